"""Errors the engine reports to the user as messages (no traceback from ``python -m train``)."""


class ConfigError(ValueError):
    """A config that names a task, network, optimizer sub-tree, evaluator or file that is not
    there, or asks for something the task cannot do."""

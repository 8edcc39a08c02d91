"""Command-line config loading: ``--config=FILE`` plus ``--config.key=value`` overrides."""

from __future__ import annotations

import importlib.util
import sys

import ml_collections

CONFIG_FLAG = "--config"


def _load(path: str) -> ml_collections.ConfigDict:
    spec = importlib.util.spec_from_file_location("_jaxvision_config", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load config file {path!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def valid_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Every leaf key of a config as a dotted path (``dataset.data_dir`` ...)."""
    keys = []
    for name, value in config.items():
        if isinstance(value, ml_collections.ConfigDict) and len(value):
            keys.extend(valid_keys(value, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return sorted(keys)


def check_overrides(argv: list[str]) -> None:
    """Exits with a message naming the valid keys when an override names an unknown key.

    Args:
      argv: the command line (``sys.argv``).
    """
    path = next((a.split("=", 1)[1] for a in argv if a.startswith(CONFIG_FLAG + "=")), None)
    if path is None:
        return
    config = _load(path)
    known = set(valid_keys(config))
    prefixes = {k.rsplit(".", i)[0] for k in known for i in range(k.count(".") + 1)}
    for arg in argv:
        if not arg.startswith(CONFIG_FLAG + "."):
            continue
        key = arg[len(CONFIG_FLAG) + 1 :].split("=", 1)[0]
        if key not in known and key not in prefixes:
            sys.exit(
                f"error: unknown config key {key!r} in {arg!r}.\n"
                f"Valid keys of {path}:\n  " + "\n  ".join(sorted(known))
            )

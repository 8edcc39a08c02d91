"""The registry of preprocessing ops, the spec-string parser and ``build``.

An op is a small factory registered under a name: called with its arguments it
returns ``op(features, rng) -> features`` over one example. ``build`` turns a spec
string such as ``"random_resized_crop(224)|flip_lr"`` into one op that applies the
named ops left to right.

The op modules (``image_ops``, ``detection_ops``) import this module and register
into it; the package ``jaxvision.data.preprocess`` imports every op module, so any
import of this module (which runs the package first) sees every op registered.

Example:
    >>> from jaxvision.data.preprocess import registry
    >>> fn = registry.build("resize(8)|flip_lr")
    >>> fn({"image": np.zeros((32, 32, 3), np.uint8)}, np.random.default_rng(0))["image"].shape
    (8, 8, 3)
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import numpy as np

Features = dict[str, Any]
Op = Callable[[Features, np.random.Generator], Features]

# The op that pads the detection targets to a fixed number of rows; ``build`` appends
# it itself when given ``max_boxes``.
PAD_BOXES_OP = "pad_boxes"
# Separates the ops of a spec string.
SPEC_SEPARATOR = "|"

_REGISTRY: dict[str, Callable[..., Op]] = {}


def register(name: str) -> Callable[[Callable[..., Op]], Callable[..., Op]]:
    """Registers a preprocessing op factory under ``name``.

    Args:
      name: the name specs call the op by.

    Returns:
      A decorator that registers the factory and returns it unchanged.

    Raises:
      ValueError: ``name`` is registered already.

    Example:
      >>> register("resize")(lambda height: None)
      Traceback (most recent call last):
      ...
      ValueError: preprocessing op 'resize' is registered twice
    """

    def wrap(factory: Callable[..., Op]) -> Callable[..., Op]:
        if name in _REGISTRY:
            raise ValueError(f"preprocessing op {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def registered_ops() -> list[str]:
    """Returns the names of all registered ops, sorted.

    Example:
      >>> {"flip_lr", "letterbox", "pad_boxes"} <= set(registered_ops())
      True
    """
    return sorted(_REGISTRY)


def parse_call(text: str) -> tuple[str, tuple, dict]:
    """Parses one op of a spec, ``"name(1, 2, k=3)"`` or a bare ``"name"``.

    Arguments must be Python literals (numbers, strings, tuples ...).

    Args:
      text: the op's text.

    Returns:
      ``(name, args, kwargs)``.

    Raises:
      ValueError: the text is not a call of a plain name with literal arguments.

    Example:
      >>> parse_call("resize(8, width=6)")
      ('resize', (8,), {'width': 6})
    """
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse preprocessing op {text!r}: {e}") from e
    if isinstance(node, ast.Name):
        return node.id, (), {}
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"a preprocessing op looks like name(args), got {text!r}")
    args = tuple(ast.literal_eval(a) for a in node.args)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return node.func.id, args, kwargs


def _factory(name: str, spec: str) -> Callable[..., Op]:
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown preprocessing op {name!r} in {spec!r}; registered: {registered_ops()}"
        )
    return _REGISTRY[name]


def build(spec: str, max_boxes: int | None = None) -> Op:
    """Builds one op from a ``|``-separated spec string.

    Args:
      spec: for example ``"random_resized_crop(224)|flip_lr"``; an empty string is
        the identity.
      max_boxes: when given, the built op ends by padding (or truncating) the detection
        targets to ``max_boxes`` rows, as ``pad_boxes(max_boxes)`` does. Detection tasks
        pass their ``detection.max_boxes`` here; the spec itself must then hold no
        ``pad_boxes``.

    Returns:
      ``op(features, rng) -> features`` applying the ops left to right.

    Raises:
      ValueError: an unknown op (the message lists the registered ones), bad syntax,
        bad op arguments, or a spec holding ``pad_boxes`` while ``max_boxes`` is given.

    Example:
      >>> raw = {"image": np.zeros((32, 64, 3), np.uint8),
      ...        "objects": {"bbox": [[0.0, 0.0, 1.0, 0.5]], "label": [2]}}
      >>> fn = build("decode_detection|letterbox(64)", max_boxes=3)
      >>> out = fn(raw, np.random.default_rng(0))
      >>> out["boxes"].shape, out["box_mask"].tolist()
      ((3, 4), [True, False, False])
    """
    calls = [parse_call(p) for p in spec.split(SPEC_SEPARATOR) if p.strip()]
    if max_boxes is not None:
        if any(name == PAD_BOXES_OP for name, _, _ in calls):
            raise ValueError(
                f"the box padding comes from the task's detection.max_boxes ({max_boxes}): "
                f"the preprocessing spec must not contain {PAD_BOXES_OP}, got {spec!r}"
            )
        calls.append((PAD_BOXES_OP, (max_boxes,), {}))
    ops = [_factory(name, spec)(*args, **kwargs) for name, args, kwargs in calls]

    def composed(features: Features, rng: np.random.Generator) -> Features:
        for op in ops:
            features = op(features, rng)
        return features

    return composed

"""Styling with a trained run: an AdaIN decoder (any style image) or a feed-forward network
(the one style it was trained for).

A run is the workdir of ``python -m train`` with ``train/configs/adain_small.py`` or
``train/configs/fast_style_small.py`` (task ``adain`` or ``fast_style``); its latest checkpoint
(the EMA parameters where the run kept them) is loaded, and its frozen VGG-19 rebuilt from the
run's ``style.vgg_weights``, or from ``vgg_weights`` where the file is now elsewhere.

Sizes: the content keeps its size or is resized to a longer side of ``size``; an AdaIN style
image is resized by ``jaxvision.style.images``' rule (its longer side the content's times
``style_scale``). The networks take any size (reflect-padded to a multiple of 4 or 8 and
cropped back).

Example:
  >>> stylizer = load("runs/adain_small")  # doctest: +SKIP
  >>> styled = stylizer(content, style)  # float [h, w, 3] in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.style import images as images_lib

METHODS = ("adain", "fast")


def _unit(image: np.ndarray) -> jax.Array:
    return jnp.asarray(image, jnp.float32)[None] / 255.0  # [1, h, w, 3]


@dataclasses.dataclass
class TrainedStylizer:
    """A trained style network ready to apply.

    Attributes:
      method: "adain" or "fast".
      task: the run's task (``jaxvision.tasks.style_base.StyleTask``).
      variables: network name -> variables (the model's and the frozen ones).
      step: the checkpoint's step.
    """

    method: str
    task: Any
    variables: dict[str, Any]
    step: int

    @functools.cached_property
    def _stylize(self):
        return jax.jit(self.task.stylize_any)

    def __call__(
        self,
        content: np.ndarray,
        style: np.ndarray | None = None,
        size: int | None = None,
        style_scale: float = 1.0,
    ) -> np.ndarray:
        """Styles a content image.

        Args:
          content: RGB uint8 [h, w, 3].
          style: RGB uint8 [h', w', 3]: AdaIN's style image (required there); a fast
            network has its own style and takes none.
          size: the output's longer side (None: the content's size).
          style_scale: the style's longer side relative to the content's.

        Returns:
          float32 [h, w, 3] in [0, 1].

        Raises:
          ValueError: AdaIN without a style image, or a fast network given one; images
            too small.
        """
        if self.method == "adain" and style is None:
            raise ValueError("an AdaIN run needs a style image")
        if self.method == "fast" and style is not None:
            raise ValueError("a fast-style run has its training's style.image: give no style")
        style_shape = (content if style is None else style).shape[:2]
        c_shape, s_shape = images_lib.fit_sizes(content.shape[:2], style_shape, size, style_scale)
        variables = self.variables
        if style is not None:
            from jaxvision.tasks.style_base import STYLE

            style_x = _unit(images_lib.resize(style, s_shape))
            variables = {**variables, STYLE: {**variables[STYLE], "image": style_x}}
        styled = self._stylize(variables, _unit(images_lib.resize(content, c_shape)))
        return np.clip(np.asarray(styled[0], np.float32), 0.0, 1.0)


def load(
    workdir: str, vgg_weights: str | None = None, alpha: float | None = None
) -> TrainedStylizer:
    """Loads the latest checkpoint of an ``adain`` or ``fast_style`` run.

    Args:
      workdir: the run's workdir.
      vgg_weights: the VGG-19 weights file to use instead of the run's ``style.vgg_weights``
        (None: the run's).
      alpha: AdaIN's content-style trade-off in [0, 1] (None: the run's ``style.alpha``).

    Returns:
      A ``TrainedStylizer``.

    Raises:
      FileNotFoundError: not a training workdir, or no checkpoint.
      ValueError: the run is not a style-transfer run.
      ConfigError: its VGG-19 weights file is missing (the message names it).
    """
    from jaxvision.engine import inference
    from jaxvision.tasks.adain import AdaINTask
    from jaxvision.tasks.style_base import StyleTask

    overrides = {}
    if vgg_weights is not None:
        overrides["style.vgg_weights"] = vgg_weights
    if alpha is not None:
        overrides["style.alpha"] = float(alpha)
    try:
        restored = inference.restore_run(workdir, overrides)
    except inference.ConfigOverrideError as e:  # a config without a ``style`` sub-tree
        raise ValueError(f"{workdir} is not a style-transfer run ({e})") from e
    task = restored.setup.task
    if not isinstance(task, StyleTask):
        raise ValueError(f"{workdir} is a {type(task).__name__} run, not adain or fast_style")
    method = "adain" if isinstance(task, AdaINTask) else "fast"
    return TrainedStylizer(method, task, restored.state.eval_variables(), int(restored.state.step))

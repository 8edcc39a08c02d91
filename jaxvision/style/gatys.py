"""Style transfer by optimisation (Gatys et al., 2016, "Image Style Transfer Using
Convolutional Neural Networks").

An image's pixels are optimised so that its VGG-19 features match the content image's at the
content layer (``conv4_2``) and its Gram matrices match the style image's at the style layers
(``conv1_1``, ``conv2_1``, ``conv3_1``, ``conv4_1``, ``conv5_1``), with a total-variation
term; the loss is ``content_weight * content + style_weight * style + tv_weight * tv``
(``jaxvision.losses.style`` gives each term and its normalisation; the default weights are
those of PyTorch's neural-style tutorial, which uses the same VGG-19 input). Layer names are
``jaxvision.models.vgg``'s: ``conv*`` before the ReLU, ``relu*`` after. The VGG pools by
average, as the paper prefers (``pool="max"`` for the network as trained).

Coarse to fine (``levels`` > 1): the transfer runs first at 1/2^(levels-1) of the output
size, and each next level (twice the size, the last one the full size) starts from the
previous result upsampled (bilinear); every level runs ``steps`` steps. Sizes follow
``jaxvision.style.images.fit_sizes``'s rule at each level.

Example:
  >>> from jaxvision.style.vgg_weights import random_vgg19_variables
  >>> content = np.full((24, 32, 3), 128, np.uint8)
  >>> style = np.random.default_rng(0).integers(0, 256, (20, 20, 3), np.uint8)
  >>> shallow = {"content_layers": {"relu1_2": 1.0}, "style_layers": {"relu1_1": 1.0}}
  >>> options = GatysOptions(steps=2, optimizer="adam", **shallow)  # a small example
  >>> vgg = random_vgg19_variables(layers=["relu1_2"])
  >>> result = transfer(content, style, vgg, options, progress=False)
  >>> result.image.shape, result.image.dtype
  ((24, 32, 3), dtype('float32'))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvision.losses import style as losses
from jaxvision.models.vgg import VGG19
from jaxvision.style import images as images_lib
from jaxvision.style.optimize import DEFAULT_CHUNK, OptimizeResult, optimize

CONTENT_LAYERS = {"conv4_2": 1.0}
STYLE_LAYERS = {f"conv{b}_1": 1.0 for b in range(1, 6)}
INITS = ("content", "noise")


@dataclasses.dataclass(frozen=True)
class GatysOptions:
    """Settings of a Gatys transfer.

    Attributes:
      steps: optimisation steps (at each level).
      content_weight: the content loss's weight.
      style_weight: the style loss's weight.
      tv_weight: the total-variation loss's weight.
      content_layers: VGG-19 layer -> weight of the content loss.
      style_layers: VGG-19 layer -> weight of the style loss.
      optimizer: "lbfgs" or "adam".
      learning_rate: Adam's step or a fixed L-BFGS step (None: line search / 0.02).
      init: start from the "content" image or from uniform "noise".
      levels: resolutions, coarse to fine (1: only the output size).
      size: the output's longer side (None: the content's size).
      style_scale: the style image's longer side relative to the content's.
      pool: VGG pooling, "avg" or "max".
      seed: seeds the noise init.
    """

    steps: int = 300
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 1.0
    content_layers: Mapping[str, float] = dataclasses.field(default_factory=lambda: CONTENT_LAYERS)
    style_layers: Mapping[str, float] = dataclasses.field(default_factory=lambda: STYLE_LAYERS)
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    init: str = "content"
    levels: int = 1
    size: int | None = None
    style_scale: float = 1.0
    pool: str = "avg"
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class GatysResult:
    """A transfer's output.

    Attributes:
      image: float32 [h, w, 3] in [0, 1] (clipped).
      losses: each level's per-step losses.
      final_losses: ``total``, ``content``, ``style`` and ``tv`` of the final image (unclipped).
      nan_step: ``(level, step)`` where a NaN loss stopped the run, or None.
    """

    image: np.ndarray
    losses: list[np.ndarray]
    final_losses: dict[str, float]
    nan_step: tuple[int, int] | None


def _features(pool: str) -> Callable[..., dict[str, jax.Array]]:
    vgg = VGG19(pool=pool)
    return lambda variables, x, layers: vgg.apply(variables, x, layers=tuple(layers))


def loss_parts(options: GatysOptions) -> Callable[[jax.Array, Any], dict[str, jax.Array]]:
    """``(image [1, h, w, 3], data) -> {"total", "content", "style", "tv"}`` (jittable), with
    ``data = (vgg variables, content features, style Gram matrices)`` from ``targets``."""
    features = _features(options.pool)
    layers = tuple(dict.fromkeys([*options.content_layers, *options.style_layers]))

    def parts(x, data):
        variables, content_targets, style_grams = data
        f = features(variables, x, layers)
        values = {
            "content": losses.content_loss(f, content_targets, options.content_layers),
            "style": losses.style_loss(f, style_grams, options.style_layers),
            "tv": losses.total_variation_loss(x),
        }
        values["total"] = (
            options.content_weight * values["content"]
            + options.style_weight * values["style"]
            + options.tv_weight * values["tv"]
        )
        return values

    return parts


def targets(variables: Any, content: jax.Array, style: jax.Array, options: GatysOptions) -> tuple:
    """``loss_parts``'s data: (variables, content features, style Gram matrices), for float
    [1, h, w, 3] content and [1, h', w', 3] style images in [0, 1]."""
    features = _features(options.pool)

    @jax.jit
    def compute(variables, content, style):
        content_features = features(variables, content, options.content_layers)
        style_features = features(variables, style, options.style_layers)
        return content_features, {k: losses.gram_matrix(v) for k, v in style_features.items()}

    return (variables, *compute(variables, content, style))


def level_sizes(shape: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """[h, w] of each level, coarse to fine: the size halved (levels - 1) times, ..., shape.

    Example:
      >>> level_sizes((100, 150), 3)
      [(25, 38), (50, 75), (100, 150)]
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    return [images_lib.longer_side_size(shape, round(max(shape) / 2**k)) for k in range(levels)][
        ::-1
    ]


def _check(options: GatysOptions) -> None:
    if options.init not in INITS:
        raise ValueError(f"unknown init {options.init!r}; valid: {', '.join(INITS)}")
    if not options.content_layers or not options.style_layers:
        raise ValueError("a Gatys transfer needs content and style layers")


def transfer(
    content: np.ndarray,
    style: np.ndarray,
    vgg_variables: Any,
    options: GatysOptions = GatysOptions(),
    progress: bool = True,
    on_chunk: Callable[[int, int, np.ndarray], None] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> GatysResult:
    """Styles ``content`` like ``style`` by optimising pixels.

    Args:
      content: RGB uint8 [h, w, 3], any size (the module's size rule).
      style: RGB uint8 [h', w', 3], any size.
      vgg_variables: VGG-19 variables (``jaxvision.style.vgg_weights.vgg19_variables``).
      options: the settings.
      progress: show a progress bar with the loss (one a level).
      on_chunk: called as ``on_chunk(level, steps done, image [h, w, 3] float)`` every
        ``chunk`` steps (to save intermediate images).
      chunk: steps between two host looks (bar, NaN check, ``on_chunk``).

    Returns:
      A ``GatysResult``.

    Raises:
      ValueError: bad options, or images too small for VGG-19 (``images.fit_sizes``).
    """
    _check(options)
    out_shape, _ = images_lib.fit_sizes(
        content.shape[:2], style.shape[:2], options.size, options.style_scale
    )
    sizes = level_sizes(out_shape, options.levels)
    parts = loss_parts(options)

    def objective(x, data):
        values = parts(x, data)
        return values["total"], values

    image, history, result = None, [], None
    for level, shape in enumerate(sizes):
        c_shape, s_shape = images_lib.fit_sizes(shape, style.shape[:2], None, options.style_scale)
        content_x = jnp.asarray(images_lib.resize(content, c_shape), jnp.float32)[None] / 255.0
        style_x = jnp.asarray(images_lib.resize(style, s_shape), jnp.float32)[None] / 255.0
        data = targets(vgg_variables, content_x, style_x, options)
        init = _init(options, content_x, image)
        callback = None if on_chunk is None else _level_callback(on_chunk, level)
        desc = f"gatys {c_shape[0]}x{c_shape[1]}"
        result: OptimizeResult = optimize(
            objective, init, data, options.steps, options.optimizer, options.learning_rate,
            chunk, progress, callback, desc,
        )  # fmt: skip
        history.append(result.losses)
        image = result.image
        if result.nan_step is not None:
            break
    final = {k: float(v) for k, v in result.final_aux.items()}
    nan_step = None if result.nan_step is None else (level, result.nan_step)
    output = np.clip(np.asarray(image[0], np.float32), 0.0, 1.0)
    return GatysResult(output, history, final, nan_step)


def _init(options: GatysOptions, content: jax.Array, previous: jax.Array | None) -> jax.Array:
    """A level's start: the previous level's result upsampled, else the content or noise."""
    if previous is not None:
        return jax.image.resize(previous, content.shape, "bilinear")
    if options.init == "noise":
        return jax.random.uniform(jax.random.key(options.seed), content.shape, jnp.float32)
    return content


def _level_callback(on_chunk, level):
    return lambda done, x: on_chunk(level, done, np.asarray(jnp.clip(x[0], 0.0, 1.0)))

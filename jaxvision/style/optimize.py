"""A jitted loop that optimises an image's pixels, with a progress bar and a NaN stop.

The steps run on the device in chunks (``lax.fori_loop`` inside one compiled function, the
optimiser's state carried from chunk to chunk); between chunks the host updates the bar with
the loss and may look at the image (to save intermediate results). Optimisers: L-BFGS
(``optax.lbfgs``, with its zoom line search; the loss and gradient at the accepted point are
reused) or Adam (pixels clipped to [0, 1] after each step).

A step whose loss is NaN or infinite stops the run: that step and the rest are not applied,
and the result is the last image whose loss was finite (the initial image if the very first
loss is not finite), with ``nan_step`` saying where it stopped. The image after the last step
is checked the same way.

Example:
  >>> target = jnp.full((1, 4, 4, 3), 0.25)
  >>> objective = lambda x, data: (jnp.mean((x - data) ** 2), {})
  >>> result = optimize(objective, jnp.zeros((1, 4, 4, 3)), target, steps=5, progress=False)
  >>> bool(result.final_loss < 1e-6), result.nan_step
  (True, None)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from tqdm import tqdm

OPTIMIZERS = ("lbfgs", "adam")
# Steps a compiled chunk runs between two looks from the host (bar, NaN check, callback).
DEFAULT_CHUNK = 10
# Adam's step on [0, 1] pixels when none is given.
DEFAULT_ADAM_LEARNING_RATE = 0.02

Objective = Callable[[jax.Array, Any], tuple[jax.Array, Any]]


@dataclasses.dataclass(frozen=True)
class OptimizeResult:
    """What an optimisation returns.

    Attributes:
      image: the optimised image (the last finite-loss one after a NaN stop), as ``init``.
      losses: [n] the loss of every step run before any stop (the loss at the step's start).
      final_loss: the loss of ``image``.
      final_aux: the objective's ``aux`` at ``image``.
      nan_step: the step whose loss was not finite (the run stopped there), or None.
    """

    image: jax.Array
    losses: np.ndarray
    final_loss: float
    final_aux: Any
    nan_step: int | None


def make_optimizer(name: str, learning_rate: float | None = None) -> optax.GradientTransformation:
    """The optimiser of pixels: ``"lbfgs"`` (line search; a fixed step when
    ``learning_rate`` is given) or ``"adam"`` (``learning_rate`` default 0.02).

    Example:
      >>> make_optimizer("adam").init(jnp.zeros(2))[0].count
      Array(0, dtype=int32)
    """
    if name == "lbfgs":
        return optax.lbfgs(learning_rate=learning_rate)
    if name == "adam":
        return optax.adam(DEFAULT_ADAM_LEARNING_RATE if learning_rate is None else learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def strong(x: Any) -> jax.Array:
    """``x`` as an array of its dtype without JAX's weak type.

    Example:
      >>> strong(0.5).weak_type, jnp.asarray(0.5).weak_type
      (False, True)
    """
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype)


def _chunk_runner(objective: Objective, tx: optax.GradientTransformation, name: str, size: int):
    """A jitted ``(carry, n, data) -> (carry, losses [size], (loss, aux))`` running n <= size
    steps; ``(loss, aux)`` is the objective at the image the run would return now."""

    def step(carry, data):
        x, opt_state, good, stopped = carry
        fn = lambda params: objective(params, data)[0]  # noqa: E731
        if name == "lbfgs":
            value, grad = optax.value_and_grad_from_state(fn)(x, state=opt_state)
            updates, new_state = tx.update(grad, opt_state, x, value=value, grad=grad, value_fn=fn)
            new_x = optax.apply_updates(x, updates)
        else:
            value, grad = jax.value_and_grad(fn)(x)
            updates, new_state = tx.update(grad, opt_state, x)
            new_x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
        ok = jnp.isfinite(value) & ~stopped
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        x_next, state_next = keep((new_x, new_state), (x, opt_state))
        return (x_next, state_next, jnp.where(ok, x, good), stopped | ~ok), value

    def run(carry, n, data):
        def body(i, c):
            carry, losses = c
            carry, value = step(carry, data)
            return carry, losses.at[i].set(value)

        losses = jnp.full((size,), jnp.nan, jnp.float32)
        carry, losses = jax.lax.fori_loop(0, n, body, (carry, losses))
        x, _, good, stopped = carry
        return carry, losses, objective(jnp.where(stopped, good, x), data)

    return jax.jit(run)


def optimize(
    objective: Objective,
    init: jax.Array,
    data: Any,
    steps: int,
    optimizer: str = "lbfgs",
    learning_rate: float | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    on_chunk: Callable[[int, jax.Array], None] | None = None,
    description: str = "",
) -> OptimizeResult:
    """Minimises ``objective(image, data)[0]`` over the image's pixels.

    Args:
      objective: ``(image, data) -> (scalar loss, aux)``, jittable (``aux``: anything to
        report, e.g. the loss's terms); ``data`` (any pytree: network variables, targets) is
        an argument rather than a constant baked into the program.
      init: the starting image (any shape; [1, h, w, 3] for style transfer).
      data: the objective's second argument.
      steps: optimisation steps (L-BFGS: iterations, each with its line search).
      optimizer: one of ``OPTIMIZERS``.
      learning_rate: Adam's step, or a fixed L-BFGS step (None: the defaults).
      chunk: steps a compiled chunk runs between two host looks.
      progress: show a tqdm bar with the loss.
      on_chunk: called as ``on_chunk(steps done, image)`` after each chunk without a stop.
      description: the bar's label.

    Returns:
      An ``OptimizeResult``.

    Raises:
      ValueError: ``steps`` or ``chunk`` below 1, or an unknown optimizer.
    """
    if steps < 1 or chunk < 1:
        raise ValueError(f"steps and chunk must be >= 1, got {steps} and {chunk}")
    tx = make_optimizer(optimizer, learning_rate)
    run = _chunk_runner(objective, tx, optimizer, chunk)
    init = jnp.asarray(init, jnp.float32)
    # Strongly typed leaves, as the compiled chunk returns them: one compilation, not two.
    carry = jax.tree.map(strong, (init, tx.init(init), init, jnp.asarray(False)))
    history: list[np.ndarray] = []
    done, nan_step = 0, None
    with tqdm(total=steps, disable=not progress, unit="step", desc=description) as bar:
        while done < steps and nan_step is None:
            n = min(chunk, steps - done)
            carry, losses, end = run(carry, n, data)
            losses = np.asarray(losses[:n])
            bad = np.flatnonzero(~np.isfinite(losses))
            if bad.size:
                nan_step = done + int(bad[0])
                losses = losses[: bad[0]]
            history.append(losses)
            done += len(losses)
            bar.update(len(losses))
            if len(losses):
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
            if nan_step is None and on_chunk is not None:
                on_chunk(done, carry[0])
    return _result(objective, data, carry, end, np.concatenate(history), nan_step)


def _result(objective, data, carry, end, losses, nan_step) -> OptimizeResult:
    """The result of a finished run: the last image, or the last good one after a NaN."""
    x, _, good, _ = carry
    image = good if nan_step is not None else x
    final, aux = end
    if nan_step is None and not np.isfinite(float(final)):
        nan_step, image = len(losses), good  # the last update made the loss NaN
        final, aux = jax.jit(objective)(image, data)
    if nan_step is not None:
        logging.warning(
            "the loss became NaN or infinite at step %d: stopped, keeping the last image "
            "with a finite loss (%s)",
            nan_step,
            f"step {nan_step - 1}" if nan_step > 0 else "the initial image",
        )
    return OptimizeResult(image, losses, float(final), aux, nan_step)

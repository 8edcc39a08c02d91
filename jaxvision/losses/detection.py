"""Detection losses: focal classification loss and box regression losses.

Every loss returns per-element (classification, L1-type) or per-box (IoU-type) values, in
float32; masking, normalisation (e.g. by the number of foreground anchors) and reduction are
the caller's. IoU-type losses take xyxy boxes and stay finite, with finite gradients, on
degenerate boxes (see ``jaxvision.ops.boxes``).

Example:
  >>> sigmoid_focal_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3))).shape
  (2, 3)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxvision.ops import boxes as box_ops

# torchvision's smooth_l1 switches to plain L1 for betas below this (no division by ~0).
_SMOOTH_L1_MIN_BETA = 1e-5
# Floor of the IoU inside the log of ``iou_loss(..., log=True)``.
_LOG_IOU_EPS = 1e-7


def sigmoid_focal_loss(
    logits: jax.Array, targets: jax.Array, alpha: float = 0.25, gamma: float = 2.0
) -> jax.Array:
    """Per-element sigmoid focal loss (Lin et al. 2017), as torchvision's ``sigmoid_focal_loss``.

    ``FL = -alpha_t (1 - p_t)^gamma log(p_t)`` with ``p = sigmoid(logits)``,
    ``p_t = p t + (1 - p)(1 - t)`` and ``alpha_t = alpha t + (1 - alpha)(1 - t)``; also for
    soft targets ``t`` in [0, 1] (the cross-entropy is then ``-t log p - (1 - t) log(1 - p)``).

    One exponential and one log an element: with ``e = exp(-|x|)``,
    ``log(1 + exp(-|x|)) = log1p(e)`` gives the cross-entropy ``max(x, 0) - x t + log1p(e)``,
    and ``p`` and ``1 - p`` are ``1 / (1 + e)`` and ``e / (1 + e)`` by the sign of ``x``, each
    accurate (no ``1 - p`` cancellation), so ``1 - p_t = (1 - t) p + t (1 - p)`` needs no
    log-space detour. Integer ``gamma`` is a product (``lax.integer_pow``). The derivatives are
    written out (a ``custom_jvp``: forward mode and higher derivatives work). Finite, with
    finite gradients, for any logits.

    Args:
      logits: [..., c] logits (computed in float32).
      targets: [..., c] targets in [0, 1] (one-hot; all zeros for background anchors).
      alpha: weight of positives in [0, 1]; negative disables the weighting (torchvision's
        convention).
      gamma: focusing exponent >= 0; 0 gives (alpha-weighted) binary cross-entropy.

    Returns:
      [..., c] losses.

    Example:
      >>> sigmoid_focal_loss(jnp.array([0.0]), jnp.array([1.0]))  # 0.25 * 0.5^2 * log 2
      Array([0.0433217], dtype=float32)
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if alpha > 1:
        raise ValueError(f"alpha must be in [0, 1] (or negative to disable), got {alpha}")
    x = jnp.asarray(logits, jnp.float32)  # [..., c]
    t = jnp.asarray(targets, jnp.float32)  # [..., c]
    return _focal(x, t, float(alpha), float(gamma))


def _focal_terms(x: jax.Array, t: jax.Array, alpha: float, gamma: float):
    """The focal loss and its partial derivatives in the logits and the targets, elementwise.

    With ``w = 1 - p_t = (1 - t) p + t (1 - p)``, ``ce = max(x, 0) - x t + log1p(e)``:
    ``dce/dx = p - t``, ``dw/dx = (1 - 2t) p (1 - p)``, ``dce/dt = -x``, ``dw/dt = 1 - 2p``,
    ``d alpha_t/dt = 2 alpha - 1``.

    Returns:
      (loss, dloss/dx, dloss/dt), each [..., c].
    """
    # exp(-|x|) and max(x, 0) by `where`, not `abs` / `maximum`: their autodiff slopes at
    # x = 0 (0 and 1/2) would make the second derivative there wrong.
    e = jnp.exp(jnp.where(x >= 0, -x, x))
    inv = 1.0 / (1.0 + e)
    p = jnp.where(x >= 0, inv, e * inv)  # sigmoid(x)
    q = jnp.where(x >= 0, e * inv, inv)  # 1 - sigmoid(x), without cancellation
    ce = jnp.where(x >= 0, x, 0.0) - x * t + jnp.log1p(e)
    w = (1.0 - t) * p + t * q  # 1 - p_t
    if float(gamma).is_integer():
        w_gamma = lax.integer_pow(w, int(gamma))
        # gamma w**(gamma - 1); 0 for gamma = 0
        dw_gamma = gamma * lax.integer_pow(w, int(gamma) - 1) if gamma else jnp.zeros_like(w)
    else:  # the floor keeps w**(gamma - 1) finite (gamma < 1) where w underflows to 0
        w = jnp.maximum(w, jnp.finfo(jnp.float32).tiny)
        w_gamma = w**gamma
        dw_gamma = gamma * w_gamma / w
    a, da = (1.0, 0.0) if alpha < 0 else (alpha * t + (1.0 - alpha) * (1.0 - t), 2 * alpha - 1)
    loss = a * w_gamma * ce
    # p - t as (1 - t) p - t (1 - p): exact for hard targets where p rounds to 1
    d_x = a * (dw_gamma * (1.0 - 2.0 * t) * p * q * ce + w_gamma * ((1.0 - t) * p - t * q))
    d_t = da * w_gamma * ce + a * (dw_gamma * (1.0 - 2.0 * p) * ce - w_gamma * x)
    return loss, d_x, d_t


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _focal(x: jax.Array, t: jax.Array, alpha: float, gamma: float) -> jax.Array:
    """Elementwise focal loss of float32 logits and targets (see `sigmoid_focal_loss`)."""
    return _focal_terms(x, t, alpha, gamma)[0]


def _focal_jvp(alpha, gamma, primals, tangents):
    """Tangent ``dloss/dx dx + dloss/dt dt``, skipping a symbolically zero one.

    A hand-written derivative keeps the backward pass one elementwise product with a
    coefficient the forward pass computes alongside the loss; autodiff of the forward formula
    instead leaves XLA:CPU a chain of 7 separately materialised [..., c] intermediates, and
    ``optax.sigmoid_focal_loss`` more (benchmarks/RESULTS.md, "Detection post-processing").
    """
    (x, t), (dx, dt) = primals, tangents
    loss, d_x, d_t = _focal_terms(x, t, alpha, gamma)
    terms = [d * tan for d, tan in ((d_x, dx), (d_t, dt)) if not isinstance(tan, SymbolicZero)]
    return loss, functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(loss)


_focal.defjvp(_focal_jvp, symbolic_zeros=True)


def l1_loss(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Elementwise ``|pred - target|``.

    Args:
      pred: [...] predictions.
      target: [...] targets, broadcastable against ``pred``.

    Returns:
      [...] losses in float32.

    Example:
      >>> l1_loss(jnp.array([1.0, -2.0]), jnp.array([0.5, 0.0]))
      Array([0.5, 2. ], dtype=float32)
    """
    return jnp.abs(jnp.asarray(pred, jnp.float32) - jnp.asarray(target, jnp.float32))


def smooth_l1_loss(pred: jax.Array, target: jax.Array, beta: float = 1.0 / 9) -> jax.Array:
    """Elementwise smooth L1 (Huber / beta) loss, as torchvision's detection heads use it.

    ``0.5 d^2 / beta`` for ``|d| < beta``, else ``|d| - 0.5 beta``, with ``d = pred - target``;
    plain L1 for ``beta < 1e-5``.

    Args:
      pred: [...] predictions (e.g. box deltas).
      target: [...] targets, broadcastable against ``pred``.
      beta: the transition point; 1/9 is Detectron's RetinaNet / Faster R-CNN value.

    Returns:
      [...] losses in float32.

    Example:
      >>> smooth_l1_loss(jnp.array([0.0, 2.0]), jnp.array([0.5, 0.0]), beta=1.0)
      Array([0.125, 1.5  ], dtype=float32)
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    diff = l1_loss(pred, target)  # [...]
    if beta < _SMOOTH_L1_MIN_BETA:
        return diff
    return jnp.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)


def iou_loss(pred_boxes: jax.Array, target_boxes: jax.Array, log: bool = False) -> jax.Array:
    """Per-box IoU loss: ``1 - IoU`` (default), or ``-log(IoU)`` (UnitBox, FCOS's first paper).

    The linear form is the default: bounded in [0, 1], and its gradient does not blow up for
    non-overlapping boxes (where both forms give no gradient; prefer ``giou_loss`` there).

    Args:
      pred_boxes: [..., 4] xyxy predictions.
      target_boxes: [..., 4] xyxy targets, broadcastable against ``pred_boxes``.
      log: ``-log(max(IoU, 1e-7))`` instead of ``1 - IoU``.

    Returns:
      [...] losses.

    Example:
      >>> iou_loss(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 0.0, 3.0, 2.0]))
      Array(0.6666666, dtype=float32)
    """
    overlap = box_ops.iou(pred_boxes, target_boxes)  # [...]
    if log:
        return -jnp.log(jnp.maximum(overlap, _LOG_IOU_EPS))
    return 1.0 - overlap


def giou_loss(pred_boxes: jax.Array, target_boxes: jax.Array) -> jax.Array:
    """Per-box generalised IoU loss ``1 - GIoU`` (Rezatofighi et al. 2019), in [0, 2].

    Args:
      pred_boxes: [..., 4] xyxy predictions.
      target_boxes: [..., 4] xyxy targets, broadcastable against ``pred_boxes``.

    Returns:
      [...] losses.

    Example:
      >>> giou_loss(jnp.array([0.0, 0.0, 1.0, 1.0]), jnp.array([2.0, 0.0, 3.0, 1.0]))
      Array(1.3333334, dtype=float32)
    """
    return 1.0 - box_ops.giou(pred_boxes, target_boxes)


def diou_loss(pred_boxes: jax.Array, target_boxes: jax.Array) -> jax.Array:
    """Per-box distance IoU loss ``1 - DIoU`` (Zheng et al. 2020), in [0, 2].

    Args:
      pred_boxes: [..., 4] xyxy predictions.
      target_boxes: [..., 4] xyxy targets, broadcastable against ``pred_boxes``.

    Returns:
      [...] losses.

    Example:
      >>> diou_loss(jnp.array([0.0, 0.0, 1.0, 1.0]), jnp.array([2.0, 0.0, 3.0, 1.0]))
      Array(1.4, dtype=float32)
    """
    return 1.0 - box_ops.diou(pred_boxes, target_boxes)


def ciou_loss(pred_boxes: jax.Array, target_boxes: jax.Array) -> jax.Array:
    """Per-box complete IoU loss ``1 - CIoU`` (Zheng et al. 2020; alpha without gradient).

    Args:
      pred_boxes: [..., 4] xyxy predictions.
      target_boxes: [..., 4] xyxy targets, broadcastable against ``pred_boxes``.

    Returns:
      [...] losses.

    Example:
      >>> ciou_loss(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([0.0, 0.0, 2.0, 2.0]))
      Array(0., dtype=float32)
    """
    return 1.0 - box_ops.ciou(pred_boxes, target_boxes)

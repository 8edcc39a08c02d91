"""Tests of jaxvision.losses.detection against NumPy formulas and inline torch references."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxvision.losses import detection

# ------------------------------------------------------------------ references


def np_focal(logits, targets, alpha, gamma):
    x = np.asarray(logits, np.float64)
    t = np.asarray(targets, np.float64)
    p = 1 / (1 + np.exp(-x))
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def torch_focal(logits, targets, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss (reduction="none"), written with torch ops."""
    p = torch.sigmoid(logits)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def torch_diou_ciou_loss(pred, target, eps=1e-7):
    """torchvision's distance_box_iou_loss / complete_box_iou_loss, written with torch ops."""
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = target.unbind(-1)
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    inter = (xkis2 - xkis1).clamp(min=0) * (ykis2 - ykis1).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    diag = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    cdist = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    diou_loss = 1 - iou + cdist / diag
    w_pred, h_pred = x2 - x1, y2 - y1
    w_gt, h_gt = x2g - x1g, y2g - y1g
    v = (4 / math.pi**2) * (torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred)) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou_loss, diou_loss + alpha * v


def np_iou_giou(a, b):
    area = lambda box: max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = area(a) + area(b) - inter
    iou = inter / union if union > 0 else 0.0
    enclosing = max(max(a[2], b[2]) - min(a[0], b[0]), 0.0) * max(
        max(a[3], b[3]) - min(a[1], b[1]), 0.0
    )
    giou = iou - ((enclosing - union) / enclosing if enclosing > 0 else 0.0)
    return iou, giou


def random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size * 0.8, (n, 2))
    wh = rng.uniform(1, size * 0.4, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def box_pairs(rng, n):
    """Prediction/target pairs: overlapping, disjoint and identical."""
    target = random_boxes(rng, n)
    pred = random_boxes(rng, n)
    # Half the predictions near their target: shifted centre, rescaled sides.
    k = n // 2
    wh = target[:k, 2:] - target[:k, :2]
    centre = (target[:k, :2] + target[:k, 2:]) / 2 + rng.uniform(-0.3, 0.3, (k, 2)) * wh
    wh = wh * rng.uniform(0.6, 1.5, (k, 2))
    pred[:k] = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)
    pred[0] = target[0]
    return pred, target


DEGENERATE = np.array(
    [
        [10, 10, 10, 30],
        [10, 10, 30, 10],
        [30, 10, 10, 30],
        [5, 5, 5, 5],
        [0, 0, 0, 0],
        [-50, -40, -10, -5],
        [10, 10, 30, 30],
    ],
    np.float32,
)


# ------------------------------------------------------------------ focal loss


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.25, 1.5)])
def test_sigmoid_focal_loss_matches_numpy_and_torch(alpha, gamma):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4, 7, 5)).astype(np.float32)
    targets = (rng.random((4, 7, 5)) < 0.3).astype(np.float32)
    fn = jax.jit(
        jax.value_and_grad(
            lambda x: jnp.sum(detection.sigmoid_focal_loss(x, targets, alpha, gamma))
        )
    )
    loss = detection.sigmoid_focal_loss(jnp.asarray(logits), jnp.asarray(targets), alpha, gamma)
    assert loss.shape == logits.shape and loss.dtype == jnp.float32
    np.testing.assert_allclose(
        np.asarray(loss), np_focal(logits, targets, alpha, gamma), rtol=1e-5, atol=1e-6
    )

    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    ref = torch_focal(x, torch.tensor(targets, dtype=torch.float64), alpha, gamma)
    ref.sum().backward()
    np.testing.assert_allclose(np.asarray(loss), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    total, grad = fn(jnp.asarray(logits))
    np.testing.assert_allclose(float(total), float(ref.detach().sum()), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), x.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_sigmoid_focal_loss_soft_targets_extremes_and_errors():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (50,)).astype(np.float32)
    targets = rng.random(50).astype(np.float32)  # soft targets (e.g. IoU-aware)
    values_and_grad = jax.jit(
        lambda v, t: (
            detection.sigmoid_focal_loss(v, t),
            jax.grad(lambda u: jnp.sum(detection.sigmoid_focal_loss(u, t)))(v),
        )
    )
    values, _ = values_and_grad(logits, targets)
    np.testing.assert_allclose(
        np.asarray(values), np_focal(logits, targets, 0.25, 2.0), rtol=1e-4, atol=1e-6
    )
    # Huge logits: finite values and gradients, and the right limits.
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0] * 10, np.float32)
    t = np.array(([0.0] * 5 + [1.0] * 5) * 5, np.float32)
    values, grad = values_and_grad(x, t)
    assert np.all(np.isfinite(np.asarray(values))) and np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_allclose(float(values[4]), 0.75 * 200, rtol=1e-5)  # confident and wrong
    np.testing.assert_allclose(float(values[5]), 0.25 * 200, rtol=1e-5)
    assert float(values[0]) < 1e-30 and float(values[9]) < 1e-30  # confident and right
    # Non-integer gamma below 1 (w**gamma has an infinite slope at w = 0): still finite.
    grad = jax.grad(lambda u: jnp.sum(detection.sigmoid_focal_loss(u, t, gamma=0.5)))(x)
    assert np.all(np.isfinite(np.asarray(grad)))
    with pytest.raises(ValueError, match="gamma"):
        detection.sigmoid_focal_loss(x, t, gamma=-1.0)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_sigmoid_focal_loss_matches_optax_on_soft_targets(gamma):
    """The one-exp formulation against optax's log-space one, values and gradients."""
    rng = np.random.default_rng(2)
    logits = jnp.asarray(rng.normal(0, 4, (300,)).astype(np.float32))
    targets = jnp.asarray(rng.random(300).astype(np.float32))

    def total(fn):
        return jax.value_and_grad(lambda u: jnp.sum(fn(u)))(logits)

    ours, ours_grad = total(lambda u: detection.sigmoid_focal_loss(u, targets, 0.25, gamma))
    ref, ref_grad = total(lambda u: optax.sigmoid_focal_loss(u, targets, alpha=0.25, gamma=gamma))
    np.testing.assert_allclose(float(ours), float(ref), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ours_grad), np.asarray(ref_grad), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1.0, 1.5), (0.5, 0.0)])
def test_sigmoid_focal_loss_written_derivatives_match_autodiff(alpha, gamma):
    """The custom_jvp's tangents in logits and targets, and a second derivative, against
    autodiff of optax's formula (the derivative of the targets matters for soft targets)."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 3, (200,)).astype(np.float32)
    x[:3] = 0.0  # where exp(-|x|) and max(x, 0) have their kinks
    x = jnp.asarray(x)
    t = rng.random(200).astype(np.float32)
    t[:3] = (0.0, 0.3, 1.0)
    t = jnp.asarray(t)
    dx = jnp.asarray(rng.normal(size=200).astype(np.float32))
    # optax's derivative in hard targets (t = 0 or 1) is wrong (its logsumexp weight of 0:
    # at x = 0, t = 0 it gives -0.347 where finite differences give -0.0866, as ours does);
    # so the rows with hard targets get no target tangent.
    dt = rng.normal(size=200).astype(np.float32)
    dt[:3] = 0.0
    dt = jnp.asarray(dt)
    ours = functools.partial(detection.sigmoid_focal_loss, alpha=alpha, gamma=gamma)
    ref = functools.partial(
        optax.sigmoid_focal_loss, alpha=alpha if alpha >= 0 else None, gamma=gamma
    )
    for tangents in ((dx, dt), (dx, jnp.zeros_like(t)), (jnp.zeros_like(x), dt)):
        got = jax.jvp(ours, (x, t), tangents)[1]
        want = jax.jvp(ref, (x, t), tangents)[1]
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=2e-5)
    # Reverse mode in the targets alone (the logits' tangent a symbolic zero).
    got = jax.grad(lambda u: jnp.sum(ours(x, u)))(t)
    want = jax.grad(lambda u: jnp.sum(ref(x, u)))(t)
    np.testing.assert_allclose(np.asarray(got)[3:], np.asarray(want)[3:], rtol=2e-4, atol=2e-5)
    # At x = 0, t = 0: d/dt by finite differences of the NumPy reference (float64).
    fd = (np_focal(0.0, 1e-6, 0.25, 2.0) - np_focal(0.0, 0.0, 0.25, 2.0)) / 1e-6
    t_grad = jax.grad(lambda u: detection.sigmoid_focal_loss(0.0, u))(0.0)
    np.testing.assert_allclose(float(t_grad), fd, rtol=1e-4)
    # Second derivative in the logits (elementwise, so the Hessian's diagonal).
    hess = jax.grad(lambda u: jnp.sum(jax.grad(lambda v: jnp.sum(ours(v, t)))(u)))(x)
    hess_ref = jax.grad(lambda u: jnp.sum(jax.grad(lambda v: jnp.sum(ref(v, t)))(u)))(x)
    np.testing.assert_allclose(np.asarray(hess), np.asarray(hess_ref), rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ L1 losses


@pytest.mark.parametrize("beta", [1.0 / 9, 1.0, 0.0])
def test_smooth_l1_and_l1_match_torch(beta):
    rng = np.random.default_rng(2)
    pred = rng.normal(0, 0.5, (6, 4)).astype(np.float32)
    target = rng.normal(0, 0.5, (6, 4)).astype(np.float32)
    pred[0, 0] = target[0, 0]  # zero difference: a finite (sub)gradient
    out = detection.smooth_l1_loss(pred, target, beta=beta)
    ref = torch.nn.functional.smooth_l1_loss(
        torch.tensor(pred), torch.tensor(target), reduction="none", beta=beta
    )
    np.testing.assert_allclose(np.asarray(out), ref.numpy(), rtol=1e-6, atol=1e-7)
    d = np.abs(pred - target)
    expected = np.where(d < beta, 0.5 * d**2 / max(beta, 1e-12), d - 0.5 * beta) if beta else d
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(detection.l1_loss(pred, target)), d, rtol=1e-6)
    grad = jax.grad(lambda p: jnp.sum(detection.smooth_l1_loss(p, target, beta)))(jnp.asarray(pred))
    assert np.all(np.isfinite(np.asarray(grad)))
    if beta:  # the quadratic zone: gradient d / beta, 0 at d = 0
        assert float(grad[0, 0]) == 0.0


# ------------------------------------------------------------------ IoU losses


def test_iou_and_giou_losses_match_numpy():
    rng = np.random.default_rng(3)
    pred, target = box_pairs(rng, 40)
    pred = np.concatenate([pred, DEGENERATE, DEGENERATE[::-1]]).astype(np.float32)
    target = np.concatenate([target, DEGENERATE[::-1], DEGENERATE]).astype(np.float32)
    ref = np.array(
        [np_iou_giou(a, b) for a, b in zip(pred.astype(np.float64), target, strict=True)]
    )
    np.testing.assert_allclose(
        np.asarray(detection.iou_loss(pred, target)), 1 - ref[:, 0], atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(detection.iou_loss(pred, target, log=True)),
        -np.log(np.maximum(ref[:, 0], 1e-7)),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(detection.giou_loss(pred, target)), 1 - ref[:, 1], atol=1e-5
    )
    assert float(detection.giou_loss(pred[0], target[0])) == pytest.approx(0.0, abs=1e-6)


def test_diou_and_ciou_losses_match_torch_values_and_gradients():
    rng = np.random.default_rng(4)
    pred, target = box_pairs(rng, 30)
    fn = jax.jit(
        jax.value_and_grad(lambda p, t, loss: jnp.sum(loss(p, t)), argnums=(0, 1)),
        static_argnums=2,
    )
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target, dtype=torch.float64, requires_grad=True)
    diou_ref, ciou_ref = torch_diou_ciou_loss(p, t)
    for loss_fn, ref in ((detection.diou_loss, diou_ref), (detection.ciou_loss, ciou_ref)):
        p.grad = t.grad = None
        ref.sum().backward(retain_graph=True)
        values = loss_fn(pred.astype(np.float32), target.astype(np.float32))
        np.testing.assert_allclose(np.asarray(values), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
        _, (grad_p, grad_t) = fn(
            jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32), loss_fn
        )
        np.testing.assert_allclose(np.asarray(grad_p), p.grad.numpy(), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(np.asarray(grad_t), t.grad.numpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["iou_loss", "giou_loss", "diou_loss", "ciou_loss"])
def test_box_losses_finite_on_degenerate_boxes(name):
    loss_fn = getattr(detection, name)
    pred = np.repeat(DEGENERATE, len(DEGENERATE), axis=0)
    target = np.tile(DEGENERATE, (len(DEGENERATE), 1))
    values, grads = jax.jit(
        jax.value_and_grad(lambda p, t: jnp.sum(loss_fn(p, t)), argnums=(0, 1))
    )(pred, target)
    assert np.isfinite(float(values))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    per_box = loss_fn(pred, target)
    assert per_box.shape == (len(pred),)
    assert np.all(np.asarray(per_box) >= -1e-6)

"""FPN, RetinaNet, the FCOS detector and the localizer: shapes, order, lowering."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.models import resnet
from jaxvision.models.fcos import FCOS
from jaxvision.models.fpn import FPN
from jaxvision.models.localizer import Localizer
from jaxvision.models.retinanet import RetinaNet, prior_bias
from jaxvision.ops import anchors as anchor_ops
from jaxvision.ops.conv import ConvRules


def _backbone(**kw):
    return resnet.ResNetTiny(num_classes=1, features_only=True, num_filters=8, **kw)


@pytest.mark.parametrize(("height", "width"), [(64, 64), (72, 40)])
def test_fpn_levels_have_the_strided_conv_sizes(height, width):
    strides = [8, 16, 32, 64, 128]
    sizes = anchor_ops.feature_sizes((height, width), strides)
    feats = {
        f"C{lvl}": jnp.ones((2, h, w, 4 * lvl))
        for lvl, (h, w) in zip(range(3, 6), sizes[:3], strict=True)
    }
    out, _ = FPN(features=8, min_level=3, max_level=7).init_with_output(jax.random.key(0), feats)
    assert sorted(out) == ["P3", "P4", "P5", "P6", "P7"]
    for lvl, (h, w) in zip(range(3, 8), sizes, strict=True):
        assert out[f"P{lvl}"].shape == (2, h, w, 8)


def test_fpn_top_down_path_carries_coarse_information_to_fine_levels():
    feats = {"C3": jnp.zeros((1, 8, 8, 4)), "C4": jnp.zeros((1, 4, 4, 4))}
    fpn = FPN(features=4, min_level=3, max_level=4)
    variables = fpn.init(jax.random.key(0), feats)
    base = fpn.apply(variables, feats)["P3"]
    changed = fpn.apply(variables, {**feats, "C4": feats["C4"].at[0, 0, 0].set(1.0)})["P3"]
    # One C4 cell covers P3's top-left 2x2, widened by P3's 3x3 output conv to 3x3.
    diff = np.asarray(jnp.any(changed != base, axis=-1))[0]
    assert diff[:3, :3].all() and not diff[4:].any() and not diff[:, 4:].any()


def test_fpn_rejects_a_missing_level():
    with pytest.raises(ValueError, match="C2"):
        FPN(min_level=2).init(jax.random.key(0), {"C3": jnp.zeros((1, 4, 4, 2))})


def test_retinanet_outputs_one_row_per_anchor_of_anchor_grid():
    model = RetinaNet(
        backbone=_backbone(), num_classes=5, num_anchors=9, fpn_features=8, head_convs=1
    )
    x = jnp.zeros((2, 64, 96, 3))
    # Jitted: one compile, not one for each op of an eager init.
    out, _ = jax.jit(lambda x: model.init_with_output(jax.random.key(0), x, train=False))(x)
    n = len(anchor_ops.anchor_grid((64, 96)))
    assert out["logits"].shape == (2, n, 5) and out["deltas"].shape == (2, n, 4)
    assert out["logits"].dtype == jnp.float32
    # The classifier starts at the prior probability (the paper's initialisation).
    prob = jax.nn.sigmoid(out["logits"])
    assert float(jnp.mean(prob)) == pytest.approx(0.01, rel=0.2)
    assert prior_bias(0.01) == pytest.approx(np.log(0.01 / 0.99))


def test_fcos_outputs_one_row_per_point_of_point_grid_in_bfloat16_too():
    model = FCOS(
        backbone=_backbone(dtype=jnp.bfloat16),
        num_classes=4,
        fpn_features=16,
        head_convs=1,
        dtype=jnp.bfloat16,
    )
    x = jnp.zeros((1, 64, 64, 3))
    init = jax.jit(lambda x: model.init_with_output(jax.random.key(0), x, train=False))
    out, variables = init(x)
    n = len(anchor_ops.point_grid((64, 64))[0])
    assert out["logits"].shape == (1, n, 4)
    assert out["box"].shape == (1, n, 4) and out["quality"].shape == (1, n)
    assert all(v.dtype == jnp.float32 for v in out.values())
    assert {"scale3", "scale4", "scale5"} <= set(variables["params"])


def _xla_conv_left_same_outputs(model_cls, impls):
    """Whether XLA's conv is left in the detector under each conv impl; asserts that the
    outputs agree."""
    x = jax.random.normal(jax.random.key(1), (2, 64, 64, 3))
    outs, kinds = [], []
    for impl in impls:
        model = model_cls(
            backbone=_backbone(conv_impl=impl),
            num_classes=3,
            fpn_features=8,
            head_convs=1,
            conv_impl=impl,
        )
        # Jitted: one compile, not one for each op of an eager init and apply.
        variables = jax.jit(lambda x, m=model: m.init(jax.random.key(0), x, train=False))(x)
        apply = lambda v, m=model: m.apply(v, x, train=False)  # noqa: E731
        outs.append(jax.jit(apply)(variables))
        kinds.append("conv_general_dilated" in str(jax.make_jaxpr(apply)(variables)))
    for key in outs[0]:
        np.testing.assert_allclose(outs[0][key], outs[1][key], rtol=1e-4, atol=1e-4)
    return kinds


@pytest.mark.parametrize("model_cls", [RetinaNet, FCOS])
def test_conv_impl_changes_the_lowering_not_the_result(model_cls):
    assert _xla_conv_left_same_outputs(model_cls, ("xla", "im2col")) == [True, False]


@pytest.mark.parametrize("model_cls", [RetinaNet, FCOS])
def test_rules_as_conv_impl_reach_every_conv(model_cls):
    # Rules that send every conv to im2col on the CPU: no XLA conv left there, same outputs.
    every_conv_im2col = ConvRules(im2col_max_out_pixels=2**31, im2col_max_out_pixels_strided=2**31)
    kinds = _xla_conv_left_same_outputs(model_cls, ("xla", every_conv_im2col))
    assert kinds == [True, jax.default_backend() != "cpu"]


def test_localizer_box_is_a_normalised_box_inside_the_image():
    model = Localizer(backbone=_backbone(), num_classes=6, hidden=8)
    x = jax.random.normal(jax.random.key(0), (3, 32, 32, 3))
    out, _ = jax.jit(lambda x: model.init_with_output(jax.random.key(1), x, train=False))(x)
    assert out["logits"].shape == (3, 6) and out["box"].shape == (3, 4)
    assert bool(jnp.all((out["box"] > 0) & (out["box"] < 1)))

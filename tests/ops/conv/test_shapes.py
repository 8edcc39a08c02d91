"""Tests of jaxvision.ops.conv.shapes: padding and output sizes as `lax` computes them."""

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from jaxvision.ops.conv import shapes


@pytest.mark.parametrize("padding", ["SAME", "VALID", "same", 2, [1, (0, 2)], ((2, 1), (-1, 3))])
@pytest.mark.parametrize("strides,dilation", [((1, 1), (1, 1)), ((2, 3), (1, 2))])
def test_padding_and_output_size_are_lax_s(padding, strides, dilation):
    x = jax.ShapeDtypeStruct((1, 11, 13, 2), jnp.float32)
    k = jax.ShapeDtypeStruct((3, 4, 2, 5), jnp.float32)
    pads = shapes.resolve_padding(padding, (11, 13), (3, 4), strides, dilation)
    assert len(pads) == 2 and all(len(p) == 2 for p in pads)
    lax_padding = padding.upper() if isinstance(padding, str) else pads
    expected = jax.eval_shape(
        lambda x, k: lax.conv_general_dilated(
            x,
            k,
            strides,
            lax_padding,
            rhs_dilation=dilation,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        ),
        x,
        k,
    )
    assert shapes.out_spatial((11, 13), (3, 4), strides, dilation, pads) == expected.shape[1:3]


@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (4, 2), (3, 1), (1, 3)])
def test_conv_transpose_padding_is_lax_s(k, s):
    x = jax.ShapeDtypeStruct((1, 5, 6, 2), jnp.float32)
    w = jax.ShapeDtypeStruct((k, k, 2, 3), jnp.float32)
    for mode in ("SAME", "VALID"):
        pads = shapes.conv_transpose_padding(mode, (k, k), (s, s), (1, 1))
        ours = jax.eval_shape(
            lambda x, w, pads=pads: lax.conv_general_dilated(
                x,
                w,
                (1, 1),
                pads,
                lhs_dilation=(s, s),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            ),
            x,
            w,
        )
        theirs = jax.eval_shape(
            lambda x, w, mode=mode: lax.conv_transpose(
                x, w, (s, s), mode, dimension_numbers=("NHWC", "HWIO", "NHWC")
            ),
            x,
            w,
        )
        assert ours.shape == theirs.shape


def test_bad_shapes_and_padding_raise():
    with pytest.raises(ValueError, match="strides needs 2 values"):
        shapes.as_tuple((1, 2, 3), 2, "strides")
    with pytest.raises(ValueError, match="Padding needs 2"):
        shapes.resolve_padding([(1, 1)], (8, 8), (3, 3), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="Unsupported padding"):
        shapes.conv_transpose_padding("CIRCULAR", (3, 3), (2, 2), (1, 1))
    with pytest.raises(ValueError, match="equal rank"):
        shapes.check_shapes(jnp.ones((1, 4, 4, 3)), jnp.ones((3, 3, 3)), 1)
    with pytest.raises(ValueError, match="1 to 3 spatial dims"):
        shapes.dimension_numbers(4)

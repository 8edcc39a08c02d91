"""Tests of the entry points of jaxvision.ops.conv: argument checks, and a `ConvRules` as
`impl` ("auto" under those rules)."""

import dataclasses
import functools

import jax
import pytest

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import DEFAULT_RULES
from tests.ops.conv.compare import arrays, assert_close, count, eqns, value_and_grads


def test_bad_arguments_raise():
    x, w = arrays((1, 5, 5, 4), (3, 3, 4, 8))
    with pytest.raises(ValueError, match="impl"):
        conv_ops.conv_general(x, w, impl="cudnn")
    with pytest.raises(ValueError, match="feature_group_count"):
        conv_ops.conv_general(x, w, feature_group_count=2)
    with pytest.raises(ValueError, match="padding"):
        conv_ops.conv_general(x, w, padding="FULL")
    with pytest.raises(ValueError, match="strides"):
        conv_ops.conv_general(x, w, strides=(1, 2, 3))


def test_unknown_impl_names_the_valid_ones():
    x, w = arrays((1, 5, 5, 4), (3, 3, 4, 8))
    with pytest.raises(ValueError, match="xla, im2col, auto or a .*ConvRules.*winograd"):
        conv_ops.conv_general(x, w, impl="cudnn")


def test_conv_transpose_rejects_winograd():
    x, w = arrays((1, 4, 4, 3), (3, 3, 3, 2))
    with pytest.raises(ValueError, match="xla, im2col, auto"):
        conv_ops.conv_transpose(x, w, strides=2, impl="winograd")


def test_rules_as_impl_change_the_lowering_not_the_result():
    # A 3x3 conv on 4x4 maps: XLA's conv under the shipped rules (16 output pixels), im2col
    # under rules that take up to 16 (on the CPU; elsewhere "auto" is XLA's conv).
    x, w = arrays((2, 4, 4, 8), (3, 3, 8, 6))
    wider = dataclasses.replace(DEFAULT_RULES, im2col_max_out_pixels=16)
    fns = [functools.partial(conv_ops.conv_general, impl=impl) for impl in ("auto", wider)]
    convs = [count(jax.make_jaxpr(fn)(x, w).jaxpr, "conv_general_dilated") for fn in fns]
    assert convs == ([1, 0] if jax.default_backend() == "cpu" else [1, 1])
    assert_close(value_and_grads(fns, x, w))
    # The shipped rules as an object are "auto".
    auto, shipped = (
        jax.make_jaxpr(functools.partial(conv_ops.conv_general, impl=impl))(x, w)
        for impl in ("auto", DEFAULT_RULES)
    )
    assert str(auto) == str(shipped)


def test_rules_as_transpose_impl():
    x, w = arrays((1, 4, 4, 3), (3, 3, 3, 2))
    no_transpose = dataclasses.replace(
        DEFAULT_RULES, im2col_transpose=False, subpixel_transpose=False
    )
    overlap_add = dataclasses.replace(DEFAULT_RULES, subpixel_transpose=False)
    fns = [
        functools.partial(conv_ops.conv_transpose, strides=2, impl=impl)
        for impl in ("xla", no_transpose, overlap_add, DEFAULT_RULES)
    ]
    jaxprs = [jax.make_jaxpr(fn)(x, w).jaxpr for fn in fns]
    convs = [eqns(jaxpr, "conv_general_dilated") for jaxpr in jaxprs]
    on_cpu = jax.default_backend() == "cpu"
    assert [len(c) for c in convs] == ([1, 1, 0, 1] if on_cpu else [1, 1, 1, 1])
    dilations = [c[0].params["lhs_dilation"] for c in convs if c]
    # XLA's input-dilated conv, or (the shipped rules on CPU) a stride-1 conv to 4 phases.
    assert dilations == ([(2, 2), (2, 2), (1, 1)] if on_cpu else [(2, 2)] * 4)
    assert_close(value_and_grads(fns, x, w))

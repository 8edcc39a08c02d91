"""Tests of jaxvision.ops.conv.rules: the choices of "auto", and `ConvRules` overrides."""

import dataclasses

import jax.numpy as jnp
import pytest

from jaxvision.ops import conv as conv_ops
from jaxvision.ops.conv import DEFAULT_RULES, ConvRules, winograd


def test_choose_impl():
    tiny = ((32, 2, 2, 512), (3, 3, 512, 512))
    large = ((32, 56, 56, 64), (3, 3, 64, 64))
    for backend in ("gpu", "cuda", "rocm", "tpu"):
        assert conv_ops.choose_impl(*tiny, backend=backend) == "xla"
        assert conv_ops.choose_impl(*large, 1, 1, 64, backend=backend) == "xla"
        assert conv_ops.choose_transpose_impl(backend) == "xla"
    assert conv_ops.choose_impl(*tiny, backend="cpu") == "im2col"
    assert conv_ops.choose_impl(*large, backend="cpu") == "xla"
    assert conv_ops.choose_impl((8, 56, 56, 64), (1, 1, 64, 256), backend="cpu") == "im2col"
    assert conv_ops.choose_impl((8, 56, 56, 64), (3, 3, 1, 64), 1, 1, 64, "cpu") == "im2col"
    # The output size decides, with a larger limit for strided convs.
    assert conv_ops.choose_impl((8, 3, 3, 512), (3, 3, 512, 512), backend="cpu") == "im2col"
    assert conv_ops.choose_impl((8, 4, 4, 512), (5, 5, 512, 512), backend="cpu") == "xla"
    assert conv_ops.choose_impl((8, 16, 16, 64), (3, 3, 64, 128), 2, backend="cpu") == "im2col"
    assert conv_ops.choose_impl((8, 32, 32, 64), (3, 3, 64, 128), 2, backend="cpu") == "xla"
    assert conv_ops.choose_transpose_impl("cpu") == "subpixel"
    assert conv_ops.choose_transpose_impl("cpu", rhs_dilation=(1, 2)) == "im2col"


def test_choose_impl_winograd():
    def choice(x_shape, k_shape, strides=1, dilation=1, groups=1, **kwargs):
        return conv_ops.choose_impl(x_shape, k_shape, strides, dilation, groups, **kwargs)

    many = DEFAULT_RULES.winograd_min_channels
    # 32 images of 8 x 8 tiles: 2048 x 128 x 128 = 2^25 multiply-adds a Winograd matmul.
    big = (32, 16, 16, many)
    assert winograd.matmul_macs(big, (3, 3, many, many), ((1, 1), (1, 1))) == 2**25
    assert choice(big, (3, 3, many, many), backend="cpu") == "winograd"
    assert choice((128, 4, 4, 512), (3, 3, 512, 512), backend="cpu") == "winograd"
    assert choice(big, (3, 3, many, many), backend="gpu") == "xla"
    # Fewer input or output channels than the rule's floor: XLA's conv.
    assert choice((32, 16, 16, many // 2), (3, 3, many // 2, many), backend="cpu") == "xla"
    assert choice(big, (3, 3, many, many // 2), backend="cpu") == "xla"
    # Matmuls below winograd_min_matmul_macs (fewer images, smaller maps): XLA's conv.
    assert choice((16, 16, 16, many), (3, 3, many, many), backend="cpu") == "xla"
    assert choice((32, 4, 4, many), (3, 3, many, many), backend="cpu") == "xla"
    # Not a 3x3 stride-1 conv of one group: the other rules.
    assert choice((32, 32, 32, many), (3, 3, many, many), 2, backend="cpu") == "xla"
    assert choice(big, (3, 3, many, many), 1, 2, backend="cpu") == "xla"
    assert choice(big, (3, 3, 2, many), 1, 1, many // 2, backend="cpu") == "im2col"
    assert choice((32, 256, many), (3, many, many), backend="cpu") == "xla"  # 1-D
    # float32 only; bfloat16 keeps XLA's conv.
    assert choice(big, (3, 3, many, many), backend="cpu", dtype=jnp.bfloat16) == "xla"


def test_choose_impl_space_to_depth():
    stem = ((32, 64, 64, 3), (7, 7, 3, 32), 2)
    assert conv_ops.choose_impl(*stem, backend="cpu", padding=((3, 3), (3, 3))) == (
        "space_to_depth"
    )
    assert conv_ops.choose_impl(*stem, backend="gpu") == "xla"
    # More input channels, stride 1 (width_fold), dilation, negative pads: the other rules.
    assert conv_ops.choose_impl((32, 64, 64, 8), (7, 7, 8, 32), 2, backend="cpu") == "xla"
    assert conv_ops.choose_impl((32, 64, 64, 3), (7, 7, 3, 32), 1, backend="cpu") == ("width_fold")
    assert conv_ops.choose_impl(*stem, 2, backend="cpu") == "xla"
    assert conv_ops.choose_impl(*stem, backend="cpu", padding=((-1, 3), (3, 3))) == "xla"
    # Small outputs stay with im2col, which the output-size rule picks first.
    assert conv_ops.choose_impl((8, 8, 8, 3), (3, 3, 3, 16), 2, backend="cpu") == "im2col"


def test_choose_impl_width_fold():
    stem = ((16, 128, 128, 3), (3, 3, 3, 8))
    assert conv_ops.choose_impl(*stem, backend="cpu") == "width_fold"
    assert conv_ops.choose_impl(*stem, backend="tpu") == "xla"
    assert conv_ops.choose_impl((16, 64, 64, 1), (3, 3, 1, 32), backend="cpu") == "width_fold"
    # Wider input or output, dilation, a kernel one column wide: XLA's conv.
    assert conv_ops.choose_impl((16, 64, 64, 8), (3, 3, 8, 8), backend="cpu") == "xla"
    assert conv_ops.choose_impl((16, 32, 32, 3), (3, 3, 3, 64), backend="cpu") == "xla"
    assert conv_ops.choose_impl(*stem, 1, 2, backend="cpu") == "xla"
    assert conv_ops.choose_impl((16, 64, 64, 3), (3, 1, 3, 8), backend="cpu") == "xla"
    off = dataclasses.replace(DEFAULT_RULES, width_fold_max_in_channels=0)
    assert conv_ops.choose_impl(*stem, backend="cpu", rules=off) == "xla"


def test_choose_impl_row_fold():
    # RGB output convs (SRResNet's 9x9, DeblurGAN's 7x7, a 3x3 one), 1-D too.
    for window in ((9, 9), (7, 7), (3, 3), (3, 1)):
        rgb_out = ((16, 96, 96, 32), (*window, 32, 3))
        assert conv_ops.choose_impl(*rgb_out, backend="cpu") == "row_fold"
        assert conv_ops.choose_impl(*rgb_out, backend="gpu") == "xla"
    assert conv_ops.choose_impl((4, 100, 8), (5, 8, 1), backend="cpu") == "row_fold"
    # Few input channels too: the width fold first.
    assert conv_ops.choose_impl((16, 96, 96, 3), (3, 3, 3, 3), backend="cpu") == "width_fold"
    # More output channels, one kernel row, a stride or dilation, groups: other rules.
    assert conv_ops.choose_impl((16, 96, 96, 32), (3, 3, 32, 8), backend="cpu") == "xla"
    assert conv_ops.choose_impl((16, 96, 96, 32), (1, 3, 32, 3), backend="cpu") == "xla"
    assert conv_ops.choose_impl((16, 96, 96, 32), (3, 3, 32, 3), 2, backend="cpu") == "xla"
    assert conv_ops.choose_impl((16, 96, 96, 32), (3, 3, 32, 3), 1, 2, backend="cpu") == "xla"
    off = dataclasses.replace(DEFAULT_RULES, row_fold_max_out_channels=0)
    assert conv_ops.choose_impl((16, 96, 96, 32), (9, 9, 32, 3), backend="cpu", rules=off) == (
        "xla"
    )


def test_choose_batch_chunk():
    assert conv_ops.choose_batch_chunk((128, 32, 32, 64), (128, 32, 32, 64), 4, "gpu") is None
    # ~1 MiB a chunk (4 images of 256 KiB), but at most max_chunks chunks.
    chunk = conv_ops.choose_batch_chunk((128, 32, 32, 64), (128, 32, 32, 64), 4, "cpu")
    assert chunk == 128 // DEFAULT_RULES.max_chunks
    assert conv_ops.choose_batch_chunk((64, 8, 8, 64), (64, 8, 8, 128), 4, "cpu") == 32
    assert conv_ops.choose_batch_chunk((8, 8, 8, 64), (8, 8, 8, 128), 4, "cpu") is None
    # Chunks would hold fewer than min_chunk_images images: one conv on the batch
    # (ResNet-50 at 224 px, batch 32: 4 images of 784 KiB; a detector at 640 px, batch 2).
    assert conv_ops.choose_batch_chunk((32, 56, 56, 64), (32, 56, 56, 64), 4, "cpu") is None
    assert conv_ops.choose_batch_chunk((2, 160, 160, 64), (2, 160, 160, 64), 4, "cpu") is None
    assert conv_ops.choose_batch_chunk((256, 56, 56, 64), (256, 56, 56, 64), 4, "cpu") == 32
    # CIFAR ResNet-18 at batch 64: 8 chunks of 8 images stay.
    assert conv_ops.choose_batch_chunk((64, 32, 32, 64), (64, 32, 32, 64), 4, "cpu") == 8


STEM = dict(x_shape=(32, 64, 64, 3), kernel_shape=(7, 7, 3, 32), strides=2, padding=3)


@pytest.mark.parametrize(
    "change,conv,shipped,changed",
    [
        (
            dict(im2col_grouped=False),
            dict(x_shape=(8, 56, 56, 64), kernel_shape=(3, 3, 1, 64), feature_group_count=64),
            "im2col",
            "xla",
        ),
        (
            dict(im2col_1x1=False),
            dict(x_shape=(8, 56, 56, 64), kernel_shape=(1, 1, 64, 256)),
            "im2col",
            "xla",
        ),
        (
            dict(im2col_max_out_pixels=0),
            dict(x_shape=(32, 2, 2, 512), kernel_shape=(3, 3, 512, 512)),
            "im2col",
            "xla",
        ),
        (
            dict(im2col_max_out_pixels_strided=9),
            dict(x_shape=(8, 16, 16, 64), kernel_shape=(3, 3, 64, 128), strides=2),
            "im2col",
            "xla",
        ),
        (
            dict(winograd_min_channels=2**31),
            dict(x_shape=(128, 4, 4, 512), kernel_shape=(3, 3, 512, 512)),
            "winograd",
            "xla",
        ),
        (
            dict(winograd_min_matmul_macs=0),
            dict(x_shape=(32, 4, 4, 128), kernel_shape=(3, 3, 128, 128)),
            "xla",
            "winograd",
        ),
        (dict(space_to_depth_max_in_channels=0), STEM, "space_to_depth", "xla"),
    ],
)
def test_each_rule_field_changes_its_choice(change, conv, shipped, changed):
    rules = dataclasses.replace(DEFAULT_RULES, **change)
    assert conv_ops.choose_impl(**conv, backend="cpu") == shipped
    assert conv_ops.choose_impl(**conv, backend="cpu", rules=rules) == changed
    # Elsewhere than the CPU the rules play no part.
    assert conv_ops.choose_impl(**conv, backend="gpu", rules=rules) == "xla"


def test_transpose_and_chunk_rules():
    overlap_add = dataclasses.replace(DEFAULT_RULES, subpixel_transpose=False)
    assert conv_ops.choose_transpose_impl("cpu", overlap_add) == "im2col"
    no_transpose = dataclasses.replace(overlap_add, im2col_transpose=False)
    assert conv_ops.choose_transpose_impl("cpu", no_transpose) == "xla"
    assert conv_ops.choose_transpose_impl("cpu", no_transpose, rhs_dilation=(2, 2)) == "xla"
    shape = (128, 32, 32, 64)
    fewer = dataclasses.replace(DEFAULT_RULES, max_chunks=2)
    assert conv_ops.choose_batch_chunk(shape, shape, 4, "cpu", fewer) == 64
    bigger = dataclasses.replace(DEFAULT_RULES, chunk_bytes=2**23)  # 32 images of 256 KiB
    assert conv_ops.choose_batch_chunk(shape, shape, 4, "cpu", bigger) == 32
    floor = dataclasses.replace(DEFAULT_RULES, min_chunk_images=17)
    assert conv_ops.choose_batch_chunk(shape, shape, 4, "cpu", floor) is None


def test_rules_are_frozen_hashable_values():
    assert ConvRules() == DEFAULT_RULES and hash(ConvRules()) == hash(DEFAULT_RULES)
    other = dataclasses.replace(DEFAULT_RULES, winograd_min_channels=64)
    assert other != DEFAULT_RULES and len({DEFAULT_RULES, ConvRules(), other}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_RULES.winograd_min_channels = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    "fields,match",
    [
        (dict(max_chunks=0), "max_chunks must be >= 1"),
        (dict(chunk_bytes=-1), "chunk_bytes must be >= 0"),
        (dict(im2col_1x1=1), "im2col_1x1 must be a bool"),
        (dict(winograd_min_channels=1.5), "winograd_min_channels must be an int"),
        (dict(min_chunk_images=True), "min_chunk_images must be an int"),
    ],
)
def test_bad_rules_raise(fields, match):
    with pytest.raises(ValueError, match=match):
        ConvRules(**fields)


def test_check_conv_impl_names_the_valid_values():
    conv_ops.check_conv_impl("xla")
    conv_ops.check_conv_impl(DEFAULT_RULES)
    conv_ops.check_conv_impl("winograd", every_conv=False)
    for bad in ("cudnn", "winograd", None, {"impl": "xla"}):
        with pytest.raises(ValueError, match="valid: xla, im2col, auto or a .*ConvRules") as e:
            conv_ops.check_conv_impl(bad)
        assert "winograd" not in str(e.value).split(";", 1)[1]  # every conv: not listed
    with pytest.raises(ValueError, match="for some convs only: winograd, space_to_depth"):
        conv_ops.check_conv_impl("cudnn", every_conv=False)
    # "subpixel" names a transposed conv's lowering only.
    conv_ops.check_conv_impl("subpixel", transposed=True)
    with pytest.raises(ValueError, match="valid: xla, im2col, auto"):
        conv_ops.check_conv_impl("subpixel")
    with pytest.raises(ValueError, match="for transposed convs also: subpixel"):
        conv_ops.check_conv_impl("winograd", transposed=True)

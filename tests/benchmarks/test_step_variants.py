"""The interleaved train-step A/B benchmark runs, and varies the conv rules by `ConvRules`
objects passed as the model's conv_impl, never by changing `jaxvision.ops.conv`."""

import dataclasses

import pytest

from benchmarks import step_variants
from jaxvision.ops import conv
from jaxvision.ops.conv import DEFAULT_RULES, ConvRules


def test_tiny_run_times_every_variant_and_leaves_the_rules_alone():
    records = step_variants.main(
        [
            "--model=resnet_tiny",
            "--image_size=8",
            "--batch_size=2",
            "--num_classes=3",
            "--impls=auto",
            "--options=engine,xla_default+xla_cpu_enable_fast_min_max=true",
            "--rules=no_winograd",
            "--rounds=2",
        ]
    )
    assert sorted(records) == [
        "auto/engine/no_winograd",
        "auto/xla_default+xla_cpu_enable_fast_min_max=true/no_winograd",
    ]
    for rec in records.values():
        assert len(rec["times_s"]) == 2 and rec["median_s"] > 0 and rec["images_per_s"] > 0
    assert ConvRules() == DEFAULT_RULES
    assert conv.choose_impl((128, 4, 4, 512), (3, 3, 512, 512), backend="cpu") == "winograd"


def test_named_rules_turn_one_rule_off_each():
    shipped = step_variants.named_rules("shipped")
    assert shipped == DEFAULT_RULES
    changed = {
        name: {
            f.name
            for f in dataclasses.fields(ConvRules)
            if getattr(step_variants.named_rules(name), f.name) != getattr(shipped, f.name)
        }
        for name in step_variants.RULES
    }
    assert changed == {
        "shipped": set(),
        "retuned": {"batch_chunks", "im2col_1x1", "im2col_max_out_pixels_strided"},
        "chunked_forward": {"chunk_derivatives_only"},
        "no_chunks": {"batch_chunks"},
        "no_winograd": {"winograd_min_channels"},
        "no_space_to_depth": {"space_to_depth_max_in_channels"},
        "no_width_fold": {"width_fold_max_in_channels"},
        "no_row_fold": {"row_fold_max_out_channels"},
    }
    wide = ((128, 4, 4, 512), (3, 3, 512, 512))
    assert conv.choose_impl(*wide, backend="cpu", rules=shipped) == "winograd"
    no_winograd = step_variants.named_rules("no_winograd")
    assert conv.choose_impl(*wide, backend="cpu", rules=no_winograd) == "xla"
    stem = ((32, 64, 64, 3), (7, 7, 3, 32), 2)
    no_fold = step_variants.named_rules("no_space_to_depth")
    assert conv.choose_impl(*stem, backend="cpu", rules=no_fold) == "xla"
    rgb_stem = ((16, 128, 128, 3), (3, 3, 3, 8))
    assert conv.choose_impl(*rgb_stem, backend="cpu", rules=shipped) == "width_fold"
    no_width_fold = step_variants.named_rules("no_width_fold")
    assert conv.choose_impl(*rgb_stem, backend="cpu", rules=no_width_fold) == "xla"
    rgb_out = ((8, 128, 128, 16), (7, 7, 16, 3))
    assert conv.choose_impl(*rgb_out, backend="cpu", rules=shipped) == "row_fold"
    no_row_fold = step_variants.named_rules("no_row_fold")
    assert conv.choose_impl(*rgb_out, backend="cpu", rules=no_row_fold) == "xla"
    big = (256, 56, 56, 64)
    assert (
        conv.choose_batch_chunk(big, big, 4, "cpu", step_variants.named_rules("no_chunks")) is None
    )
    with pytest.raises(ValueError, match="Unknown rules"):
        step_variants.named_rules("mine")


def test_the_model_gets_the_rules_only_under_auto():
    no_winograd = step_variants.named_rules("no_winograd")
    assert step_variants.model_conv_impl("auto", "no_winograd") == no_winograd
    assert step_variants.model_conv_impl("xla", "no_winograd") == "xla"
    assert step_variants.model_conv_impl("im2col", "shipped") == "im2col"


@pytest.mark.parametrize("flag", ["--options=fast", "--rules=mine", "--impls=cuda", "--rounds=1"])
def test_rejects_bad_flags(flag):
    with pytest.raises(SystemExit):
        step_variants.parse_args([flag])


def test_extra_compiler_options_parse():
    options = step_variants.named_compiler_options("xla_default+a=true+b=3+c=dot,reduce")
    assert options == {"a": True, "b": 3, "c": "dot,reduce"}
    with pytest.raises(ValueError, match="key=value"):
        step_variants.named_compiler_options("engine+novalue")

"""The interleaved train-step A/B benchmark runs, and leaves the conv rules as shipped."""

import pytest

from benchmarks import step_variants
from jaxvision.ops import conv


def test_tiny_run_times_every_variant_and_restores_rules():
    shipped = (
        conv.CPU_IM2COL_MAX_OUT_PIXELS_STRIDED,
        conv.CPU_IM2COL_1X1,
        conv.CPU_CHUNK_FORWARD_ONLY_IN_GRADIENTS,
        conv.CPU_WINOGRAD_MIN_CHANNELS,
        conv.CPU_SPACE_TO_DEPTH_MAX_IN_CHANNELS,
    )
    records = step_variants.main(
        [
            "--model=resnet_tiny",
            "--image_size=8",
            "--batch_size=2",
            "--num_classes=3",
            "--impls=auto",
            "--options=engine,xla_default+xla_cpu_enable_fast_min_max=true",
            "--rules=shipped,no_winograd",
            "--rounds=2",
        ]
    )
    assert sorted(records) == [
        "auto/engine/no_winograd",
        "auto/engine/shipped",
        "auto/xla_default+xla_cpu_enable_fast_min_max=true/no_winograd",
        "auto/xla_default+xla_cpu_enable_fast_min_max=true/shipped",
    ]
    for rec in records.values():
        assert len(rec["times_s"]) == 2 and rec["median_s"] > 0 and rec["images_per_s"] > 0
    assert shipped == (
        conv.CPU_IM2COL_MAX_OUT_PIXELS_STRIDED,
        conv.CPU_IM2COL_1X1,
        conv.CPU_CHUNK_FORWARD_ONLY_IN_GRADIENTS,
        conv.CPU_WINOGRAD_MIN_CHANNELS,
        conv.CPU_SPACE_TO_DEPTH_MAX_IN_CHANNELS,
    )
    assert conv.choose_batch_chunk is not step_variants._no_chunk


@pytest.mark.parametrize("flag", ["--options=fast", "--rules=mine", "--impls=cuda", "--rounds=1"])
def test_rejects_bad_flags(flag):
    with pytest.raises(SystemExit):
        step_variants.parse_args([flag])


def test_extra_compiler_options_parse():
    options = step_variants.named_compiler_options("xla_default+a=true+b=3+c=dot,reduce")
    assert options == {"a": True, "b": 3, "c": "dot,reduce"}
    with pytest.raises(ValueError, match="key=value"):
        step_variants.named_compiler_options("engine+novalue")

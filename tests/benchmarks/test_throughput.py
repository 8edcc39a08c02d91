"""Smoke test of the throughput benchmark: both frameworks, each in its own process."""

from __future__ import annotations

import json

import pytest

from benchmarks import throughput

# A seconds-long run: the smallest ResNet on tiny images, two timed steps.
SMOKE_ARGS = (
    "--model=resnet_tiny",
    "--image-size=16",
    "--batch-size=4",
    "--steps=2",
    "--warmup=1",
    "--compare=torch",
)


def test_time_steps_counts_calls():
    calls = []
    timing, carry = throughput.time_steps(
        lambda n: calls.append(n) or n + 1, 0, steps=3, warmup=2, sync=lambda n: n
    )
    assert carry == 6  # 1 first + 2 warmup + 3 timed
    assert len(timing.steps_s) == 3
    assert timing.min_s <= timing.median_s
    assert timing.first_s >= 0


@pytest.mark.parametrize("flag", ["--steps=0", "--warmup=-1", "--batch-size=0"])
def test_rejects_bad_counts(flag):
    with pytest.raises(SystemExit):
        throughput.parse_args([flag])


def test_rejects_torch_compare_without_reference():
    with pytest.raises(SystemExit):
        throughput.parse_args(["--model=vit_ti16", "--compare=torch"])


def test_stem_and_classes_follow_image_size():
    small = throughput.parse_args(["--image-size=32"])
    large = throughput.parse_args(["--image-size=64"])
    assert (small.stem, small.num_classes) == ("cifar", 10)
    assert (large.stem, large.num_classes) == ("imagenet", 1000)


@pytest.mark.slow
def test_smoke_jax_and_torch(tmp_path, capsys):
    out = tmp_path / "throughput.json"
    throughput.main([*SMOKE_ARGS, f"--json={out}"])
    report = json.loads(out.read_text())

    assert report["mode"] == "train"
    assert set(report["results"]) == {"jax", "torch"}
    for name, result in report["results"].items():
        assert result["framework"] == name
        assert result["images_per_s"] > 0
        assert result["images_per_s"] == pytest.approx(4 / result["step_time_median_s"])
        assert result["step_time_min_s"] <= result["step_time_median_s"]
        assert len(result["step_times_s"]) == 2
        assert result["compile_time_s"] >= 0
        assert result["peak_rss_mib"] > 0
    jax_ips = report["results"]["jax"]["images_per_s"]
    torch_ips = report["results"]["torch"]["images_per_s"]
    assert report["ratio_jax_over_torch"] == pytest.approx(jax_ips / torch_ips)
    assert report["machine"]["cpu_count"] > 0
    assert report["machine"]["jax_devices"]
    assert "jax/torch" in capsys.readouterr().out

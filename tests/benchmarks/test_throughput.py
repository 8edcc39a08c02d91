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


@pytest.mark.parametrize("flag", ["--steps=0", "--warmup=-1", "--batch-size=0", "--rounds=0"])
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


def _fake_record(images_per_s: float) -> dict:
    """A child's record with the keys the report and its summary line read."""
    return {
        "images_per_s": images_per_s,
        "step_time_median_s": 1.0 / images_per_s,
        "compile_time_s": 0.0,
        "peak_rss_mib": 1.0,
        "backend": "cpu",
        "stem": None,
        "devices": ["cpu"],
    }


def test_rounds_take_turns_and_report_the_median_round(monkeypatch, capsys):
    calls = []
    speeds = {throughput.JAX: iter([90.0, 110.0, 100.0]), throughput.TORCH: iter([120, 80, 100])}

    def fake_child(args, framework):
        calls.append(framework)
        return _fake_record(float(next(speeds[framework])))

    monkeypatch.setattr(throughput, "run_child", fake_child)
    report = throughput.main(["--compare=torch", "--rounds=3"])
    assert calls == [throughput.JAX, throughput.TORCH] * 3
    assert report["results"][throughput.JAX]["images_per_s"] == 100.0
    assert report["results"][throughput.TORCH]["images_per_s"] == 100.0
    assert report["ratio_jax_over_torch"] == pytest.approx(1.0)
    assert report["rounds"]["ratio"] == pytest.approx([0.75, 1.375, 1.0])
    assert report["rounds"][throughput.TORCH] == [120.0, 80.0, 100.0]
    assert "median of 3 rounds (ratios 0.75 1.38 1.00)" in capsys.readouterr().out


def test_one_round_has_no_rounds_record(monkeypatch):
    monkeypatch.setattr(throughput, "run_child", lambda args, framework: _fake_record(5.0))
    report = throughput.main([])
    assert "rounds" not in report and report["ratio_jax_over_torch"] is None


def test_conv_impl_is_the_only_conv_option():
    # ResNet builds its own convs: --conv is gone, --conv_impl picks their lowering.
    with pytest.raises(SystemExit):
        throughput.parse_args(["--conv=flax"])
    args = throughput.parse_args(["--conv_impl=im2col"])
    assert throughput._jax_model_kwargs(args) == {"stem": "cifar", "conv_impl": "im2col"}

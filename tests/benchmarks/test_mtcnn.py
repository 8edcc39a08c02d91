"""The MTCNN timing benchmark's plumbing, on images too small to hold a face (no compile)."""

import json

import pytest

from benchmarks import mtcnn


def test_latency_and_throughput_reports(tmp_path):
    out = tmp_path / "mtcnn.json"
    report = mtcnn.main(["--size=16", "--steps=2", "--warmup=0", f"--json={out}"])
    result = report["result"]
    assert report["mode"] == "latency" and result["faces"] == [0]
    assert len(result["times_s"]) == 2 and result["images_per_s"] > 0
    assert result["bucket"] == [32, 32]
    assert json.loads(out.read_text())["result"] == result
    report = mtcnn.main(["--batch=3", "--size=18x12", "--steps=1", "--warmup=0"])
    assert report["mode"] == "throughput" and report["result"]["faces"] == [0, 0, 0]


def test_sizes_and_arguments():
    assert mtcnn._size("640x480") == (480, 640) and mtcnn._size("512") == (512, 512)
    with pytest.raises(SystemExit):
        mtcnn.parse_args(["--batch=0"])

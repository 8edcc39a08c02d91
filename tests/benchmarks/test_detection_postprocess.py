"""The detector post-processing benchmark: its pieces, on the small RetinaNet config."""

import json

import pytest

from benchmarks import detection_postprocess as dp


def test_times_every_piece_of_predict(tmp_path):
    out = tmp_path / "post.json"
    (record,) = dp.main(
        ["--only=retinanet_small", "--batch_size=2", "--steps=2", "--warmup=0", f"--json={out}"]
    )
    assert record["name"] == "retinanet_small" and record["batch_size"] == 2
    assert record["anchors"] > record["pre_nms_top_k"] > 0
    assert set(record["ms"]) == set(dp.PIECES)
    assert all(ms > 0 for ms in record["ms"].values())
    assert all(len(steps) == 2 for steps in record["steps_ms"].values())
    # The busy logits make NMS run: every image keeps detections.
    assert record["busy_min_detections"] > 0
    saved = json.loads(out.read_text())
    assert saved["records"][0]["ms"] == record["ms"]


def test_rejects_entries_that_are_not_dense_detectors():
    with pytest.raises(SystemExit):
        dp.parse_args(["--only=no_such_entry"])
    with pytest.raises(ValueError, match="not one of"):
        dp.main(["--only=demo_resnet_tiny", "--batch_size=2", "--steps=1", "--warmup=0"])

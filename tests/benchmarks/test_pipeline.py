"""The input-pipeline benchmark: generated JPEGs, buffer-aware warm-up, a smoke run."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import jpeg_data, pipeline
from jaxvision.data.pipeline import LoaderOptions


def test_generated_jpegs_are_imagenet_like(tmp_path):
    root = jpeg_data.generate_jpegs(str(tmp_path), num_images=3)
    source = jpeg_data.load_image_folder(root)
    assert len(source) == 3
    image = source[0]["image"]
    width, height = jpeg_data.IMAGENET_LIKE_SIZE
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    assert image.std() > 10  # content, not a flat colour


def test_encoded_source_decodes_pngs():
    source = jpeg_data.EncodedImageSource(num_images=4, image_size=8)
    assert len(source) == 4
    assert source[3]["image"].shape == (8, 8, 3) and source[3]["label"] == 3


def test_warmup_drains_every_buffer():
    main = LoaderOptions(worker_count=0, prefetch_buffer_size=64)
    workers = LoaderOptions(worker_count=2, worker_buffer_size=2, prefetch_buffer_size=64)
    assert pipeline.warmup_batches(main, batch_size=16) == 1 + 4
    assert pipeline.warmup_batches(workers, batch_size=16) == 1 + 2 * (4 + 2)


@pytest.mark.slow
def test_smoke_run(tmp_path):
    report = pipeline.main(
        [
            f"--data_dir={tmp_path / 'jpegs'}",
            "--num_images=16",
            "--batch_size=4",
            "--batches=1",
            "--min_images=4",
            "--workers=0",
            "--skip_tasks",
            f"--json={tmp_path / 'pipeline.json'}",
        ]
    )
    assert report["spec"] == pipeline.IMAGENET_SPEC
    assert [r["worker_count"] for r in report["grain"]] == [0, 0]
    assert report["grain"][-1]["read_threads"] == 1
    assert all(r["images_per_s"] > 0 for r in report["grain"])
    assert (report["tf_note"] is None) == bool(report["tf_data"])
    assert (tmp_path / "pipeline.json").is_file()


def test_task_rows_report_the_ratio_to_the_train_step(tmp_path):
    """The demo config's own pipeline on the built-in data, against a given train-step rate."""
    args = pipeline.parse_args(
        [f"--data_dir={tmp_path}", "--batches=1", "--min_images=1", "--num_images=8"]
    )
    demo = [e for e in pipeline.suite.ENTRIES if e.name == "demo_resnet_tiny"]
    rows = pipeline.task_rows(args, {"demo_resnet_tiny": 10.0}, entries=demo)
    assert len(rows) == 1 and rows[0]["status"] == "ok", rows
    assert rows[0]["train_pp"] == "resize(32)|flip_lr"
    assert rows[0]["ratio_pipeline_over_train"] == pytest.approx(
        rows[0]["pipeline"]["images_per_s"] / 10.0
    )

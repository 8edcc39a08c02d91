"""The trained style tasks through the shared engine: feed-forward (Johnson et al.) and AdaIN.

Tiny runs on the built-in photos with random VGG-19 weights (``style.vgg_weights="random"``)
and shallow loss layers, so that the compiled steps stay small: each task trains, checkpoints,
resumes from its checkpoint, evaluates against its baseline and draws its picture, and
``python -m jaxvision.style`` applies the trained runs to an image.
"""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import build
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.errors import ConfigError
from jaxvision.style import __main__ as command
from jaxvision.style import images
from tests.engine import runs

pytestmark = pytest.mark.slow

SIZE = 16  # training crops, eval crops and the style image: relu4_1 at 2 x 2
TINY = {
    "batch_size": 2,
    "eval_batch_size": 3,
    "log_every": 1,
    "checkpoint_every": 2,
    "dataset.train_pp": f"random_crop({SIZE})|flip_lr",
    "dataset.eval_pp": f"resize_small({SIZE})|center_crop({SIZE})",
    "style.image": "texture:checks",
    "style.image_size": SIZE,
    # XLA's own convs compile the tiny networks' gradients in about half the time of "auto".
    "model.kwargs.conv_impl": "xla",
}
MODELS = {
    "fast_style_small": {
        "model.kwargs.features": 4,
        "model.kwargs.num_blocks": 1,
        "style.content_layers": {"relu1_2": 1.0},
        "style.style_layers": {"relu1_1": 1.0, "relu2_1": 1.0},
    },
    "adain_small": {
        "model.kwargs.widths": (4, 4, 4),
        "style.style_layers": {"relu1_1": 1.0, "relu2_1": 1.0},
    },
}
EVAL_KEYS = {"content_loss", "style_loss", "baseline_style_loss", "num_examples"}


def _config(name: str, data_dir: str, steps: int, **overrides):
    values = {**TINY, **MODELS[name], "total_steps": steps, "dataset.data_dir": data_dir}
    return runs.named_config(name, {**values, **overrides})


@pytest.fixture(scope="module")
def compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache, for this module's runs only: a resumed run compiles
    the steps of the run it resumes, and reads them from the cache instead."""
    from jax._src import compilation_cache as cache

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = {name: getattr(jax.config, name) for name in names}
    cache.reset_cache()
    jax.config.update(names[0], str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update(names[1], 0.5)
    yield
    for name, value in before.items():
        jax.config.update(name, value)
    cache.reset_cache()


def _train_and_resume(name: str, data_dir: str, workdir) -> dict:
    """Two steps, then a second run of the same workdir to three: it resumes at step 2."""
    runs.train_in_process(_config(name, data_dir, 2), workdir)
    assert runs.latest_params(workdir)[0] == 2
    metrics = runs.train_in_process(_config(name, data_dir, 3), workdir)
    assert runs.latest_params(workdir)[0] == 3
    lines = runs.read_metrics(workdir)
    # Steps 1 and 2 from the first run, 3 from the resumed one: none repeated.
    assert [line["step"] for line in lines] == [1, 2, 3]
    for line in lines:
        assert np.isfinite(line["loss"]) and {"content_loss", "style_loss", "tv_loss"} <= set(line)
    assert set(metrics) >= EVAL_KEYS and metrics["num_examples"] == 3
    assert all(np.isfinite(metrics[k]) for k in EVAL_KEYS)
    assert os.path.exists(os.path.join(workdir, "predictions.png"))
    return metrics


def _images(tmp_path):
    """(content, style) files of sizes the networks do not divide."""
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    images.save_image(np.random.default_rng(0).integers(0, 256, (21, 30, 3), np.uint8), content)
    images.save_image(images.texture("waves", 24), style)
    return str(content), str(style)


# One test a task (train, resume, evaluate, apply): each run is made once on any xdist worker.
def test_fast_style_trains_resumes_and_styles_with_the_command(
    tmp_path, photos_data_dir, compilation_cache, capsys
):
    workdir = tmp_path / "run"
    _train_and_resume("fast_style_small", photos_data_dir, workdir)
    content, _ = _images(tmp_path)
    out = tmp_path / "fast.png"
    assert command.main([content, f"--out={out}", "--method=fast", f"--workdir={workdir}"]) == 0
    assert images.read_image(out).shape == (21, 30, 3), capsys.readouterr().err


def test_adain_trains_resumes_and_styles_with_the_command(
    tmp_path, photos_data_dir, compilation_cache, capsys
):
    workdir = tmp_path / "run"
    _train_and_resume("adain_small", photos_data_dir, workdir)
    content, style = _images(tmp_path)
    out = tmp_path / "adain.png"
    argv = [content, style, f"--out={out}", "--method=adain", f"--workdir={workdir}"]
    assert command.main([*argv, "--alpha=0.5"]) == 0
    assert images.read_image(out).shape == (21, 30, 3), capsys.readouterr().err


def test_the_command_refuses_options_that_do_not_fit_the_method(tmp_path, capsys):
    content, style = _images(tmp_path)
    out = f"--out={tmp_path / 'never.png'}"
    # A fast run has its own style; AdaIN needs one and a run; gatys options do not apply.
    assert command.main([content, style, out, "--method=fast", "--workdir=w"]) == 1
    assert "own style" in capsys.readouterr().err
    assert command.main([content, out, "--method=adain", "--workdir=w"]) == 1
    assert "needs a STYLE" in capsys.readouterr().err
    assert command.main([content, style, out, "--method=adain"]) == 1
    assert "needs --workdir" in capsys.readouterr().err
    assert command.main([content, style, out, "--method=adain", "--workdir=w", "--steps=5"]) == 1
    assert "gatys only" in capsys.readouterr().err
    assert command.main([content, style, out, "--method=adain", f"--workdir={tmp_path}"]) == 1
    assert "training workdir" in capsys.readouterr().err


def test_a_missing_vgg_file_is_refused_at_start(tmp_path):
    meta = DatasetMeta("jaxvision_photos", (), 1)
    for weights in ("", str(tmp_path / "vgg19.pth")):
        config = _config("fast_style_small", "", 1, **{"style.vgg_weights": weights})
        with pytest.raises(ConfigError, match="vgg19-dcbb9e9d.pth"):
            build.build(config, meta, mesh_lib.make_mesh())

"""``python -m jaxvision.style`` end to end on tiny images, with a random VGG-19 weights file
in torchvision's format (a state dict saved with ``torch.save``)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmarks.torch_restoration import vgg_features
from jaxvision.style import __main__ as command
from jaxvision.style import images
from tests.engine import runs

pytestmark = pytest.mark.slow

SIZE = 48  # chelsea (300 x 451) becomes 32 x 48; coarse to fine starts at 16 x 24


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(content, style, VGG-19 weights file): chelsea, a texture, He-normal random weights."""
    from jaxvision.data.builders.photos import load_photo

    tmp = tmp_path_factory.mktemp("style_command")
    content, style, weights = tmp / "chelsea.png", tmp / "waves.png", tmp / "vgg19.pth"
    images.save_image(load_photo("chelsea"), content)
    images.save_image(images.texture("waves", 64), style)
    torch.manual_seed(0)
    features = vgg_features()
    with torch.no_grad():
        for module in features:
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                module.bias.zero_()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, weights)
    return str(content), str(style), str(weights)


def test_the_command_styles_coarse_to_fine_and_saves_intermediate_images(files, tmp_path):
    content, style, weights = files
    out = tmp_path / "out" / "styled.png"
    argv = [content, style, f"--out={out}", f"--vgg_weights={weights}", f"--size={SIZE}"]
    options = [
        "--steps=4",
        "--levels=2",
        "--save_every=2",
        "--optimizer=adam",
        "--style_weight=1e5",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "jaxvision.style", *argv, *options],
        cwd=runs.REPO,
        env=runs.child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert images.read_image(out).shape == (32, 48, 3)
    for level, shape in ((0, (16, 24)), (1, (32, 48))):
        for step in (2, 4):
            path = out.with_name(f"styled_level{level}_step{step:05d}.png")
            assert images.read_image(path).shape == (*shape, 3)
    assert "final losses: content" in proc.stdout and "wrote" in proc.stdout
    assert "loss=" in proc.stderr  # the progress bar shows the loss


def test_a_nan_loss_stops_says_so_and_writes_the_last_good_image(files, tmp_path, capsys):
    content, style, weights = files
    out = tmp_path / "nan.png"
    argv = [content, style, f"--out={out}", f"--vgg_weights={weights}", f"--size={SIZE}"]
    nan = ["--steps=3", "--style_weight=nan", "--optimizer=adam", "--quiet"]
    assert command.main([*argv, *nan]) == 0
    assert "stopped: the loss became NaN" in capsys.readouterr().out
    # The first loss is already NaN: the image kept is the content, resized.
    expected = images.resize(images.read_image(content), (32, 48))
    np.testing.assert_array_equal(images.read_image(out), expected)


def test_a_missing_vgg_file_says_which_file_and_where_it_comes_from(files, tmp_path, capsys):
    content, style, _ = files
    out = tmp_path / "never.png"
    for extra in ([], [f"--vgg_weights={tmp_path / 'vgg19.pth'}"]):
        assert command.main([content, style, f"--out={out}", *extra]) == 1
        err = capsys.readouterr().err
        assert "vgg19-dcbb9e9d.pth" in err and "https://download.pytorch.org/models/" in err
    assert not out.exists()
    # Other bad input: no style for gatys, an image that does not exist.
    assert command.main([content, f"--out={out}", "--vgg_weights=random"]) == 1
    assert command.main([content, str(tmp_path / "none.png"), f"--out={out}"]) == 1
    assert "needs a STYLE" in capsys.readouterr().err

"""Gatys et al.'s optimisation: it lowers its loss, stops on NaN keeping the last good image,
and resizes images of other sizes by its documented rule."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxvision.style import gatys, images
from jaxvision.style.optimize import optimize
from jaxvision.style.vgg_weights import (
    RANDOM_WEIGHTS,
    VGG19_FILE,
    random_vgg19_variables,
    vgg19_variables,
)

# The longer side of the outputs: chelsea (300 x 451) becomes 16 x 24, the smallest size
# VGG-19's conv5_1 allows (1/16 of it, one pixel), so that the tests stay fast.
SIZE = 24
SHAPE = (16, 24)


@pytest.fixture(scope="module")
def vgg():
    return random_vgg19_variables(seed=0)


def _photo_and_texture():
    from jaxvision.data.builders.photos import load_photo

    return load_photo("chelsea"), images.texture("waves", 48)


def test_the_loop_lowers_its_total_loss_by_80_percent_in_200_steps(vgg):
    content, style = _photo_and_texture()  # 300 x 451 and 48 x 48: both resized
    options = gatys.GatysOptions(steps=200, size=SIZE)  # L-BFGS, content init
    result = gatys.transfer(content, style, vgg, options, progress=False, chunk=100)
    first = float(result.losses[0][0])
    assert result.nan_step is None and len(result.losses[0]) == 200
    assert result.final_losses["total"] <= 0.2 * first, (first, result.final_losses)
    assert result.image.shape == (*SHAPE, 3)  # the content's aspect, longer side SIZE
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    # The style term fell, and it is what the loss was made of at the start (content init).
    assert result.final_losses["style"] < 0.2 * first / options.style_weight


def test_a_nan_loss_stops_and_keeps_the_last_good_image():
    # Finite while the image's mean stays >= 0.3; Adam walks it down from 1.
    def objective(x, data):
        loss = jnp.sum(x**2) + jnp.where(jnp.mean(x) < data, jnp.nan, 0.0)
        return loss, {"mean": jnp.mean(x)}

    seen = []
    result = optimize(
        objective, jnp.ones((1, 4, 4, 3)), 0.3, steps=100, optimizer="adam",
        learning_rate=0.05, chunk=4, progress=False, on_chunk=lambda s, x: seen.append(s),
    )  # fmt: skip
    assert result.nan_step is not None and 0 < result.nan_step < 100
    assert len(result.losses) == result.nan_step and np.all(np.isfinite(result.losses))
    # The image kept is the last one with a finite loss: one Adam step from the NaN.
    mean = float(result.final_aux["mean"])
    assert 0.3 <= mean < 0.3 + 0.05 * 1.01 and np.isfinite(result.final_loss)
    assert seen == list(range(4, result.nan_step - result.nan_step % 4 + 1, 4))


def test_sizes_follow_the_documented_rule():
    # The content to a longer side of `size`, the style to the content's longer side.
    assert images.fit_sizes((300, 451), (48, 48), size=64) == ((43, 64), (64, 64))
    content, style = images.fit_sizes((40, 20), (100, 300), style_scale=2.0)
    assert content == (40, 20) and style == (27, 80)
    with pytest.raises(ValueError, match="at least 16"):
        images.fit_sizes((300, 451), (48, 48), size=20)  # 13 x 20
    with pytest.raises(ValueError, match="style image"):
        images.fit_sizes((64, 64), (10, 100))  # 6 x 64
    assert gatys.level_sizes((100, 150), 3) == [(25, 38), (50, 75), (100, 150)]


def test_a_missing_vgg_file_names_the_file_and_where_it_comes_from(tmp_path):
    for path in ("", str(tmp_path / "nope.pth")):
        with pytest.raises(FileNotFoundError, match=VGG19_FILE) as info:
            vgg19_variables(path)
        assert "download.pytorch.org" in str(info.value)
    kernel = vgg19_variables(RANDOM_WEIGHTS, seed=3)["params"]["conv1_1"]["kernel"]
    assert kernel.shape == (3, 3, 3, 64)


def test_style_images_are_built_in_or_files(tmp_path):
    assert images.load_style_image("texture:checks").shape == (256, 256, 3)
    assert images.load_style_image("skimage:coffee").shape == (400, 600, 3)
    path = tmp_path / "s.png"
    images.save_image(np.zeros((5, 7, 3), np.float32), path)
    assert images.load_style_image(str(path)).shape == (5, 7, 3)
    with pytest.raises(ValueError, match="unknown texture"):
        images.load_style_image("texture:plaid")
    with pytest.raises(FileNotFoundError, match="no image file"):
        images.load_style_image(str(tmp_path / "missing.png"))

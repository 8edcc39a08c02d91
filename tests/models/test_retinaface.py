"""RetinaFace's registered variants and bad input (shapes: the module's docstring example)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from jaxvision import models
from jaxvision.models import retinaface


def test_registered_variants_build_their_resnet():
    model = models.get_model("retinaface_resnet18_fpn", fpn_features=32, context=False)
    assert isinstance(model, retinaface.RetinaFace)
    assert model.backbone.stage_sizes == (2, 2, 2, 2)
    assert models.get_model("retinaface_resnet50_fpn").backbone.stage_sizes == (3, 4, 6, 3)
    with pytest.raises(ValueError, match="unknown backbone"):
        retinaface.retinaface_resnet_fpn("vgg")


def test_ssh_concatenates_its_three_branches():
    ssh = retinaface.SSH(8)
    y, variables = ssh.init_with_output(jax.random.key(0), jnp.ones((1, 4, 4, 3)))
    assert y.shape == (1, 4, 4, 8) and float(y.min()) >= 0.0  # after its ReLU
    widths = {k: v["kernel"].shape[-1] for k, v in variables["params"].items()}
    assert widths == {"conv3": 4, "conv5_1": 2, "conv5_2": 2, "conv7_2": 2, "conv7_3": 2}
    with pytest.raises(ValueError, match="multiple of 4"):
        retinaface.SSH(6).init(jax.random.key(0), jnp.ones((1, 4, 4, 3)))

"""Mask R-CNN's structure: registry variants, heads, levels and output shapes (traced only;
the compiled forward and train step run in tests/tasks/test_maskrcnn_task.py)."""

import jax
import jax.numpy as jnp
import pytest

from jaxvision import models
from jaxvision.models.maskrcnn import MaskRCNN
from jaxvision.models.maskrcnn_heads import BoxHead, MaskHead
from jaxvision.models.resnet import ResNetTiny

SIZE = 64


def _tiny(**kwargs):
    backbone = ResNetTiny(num_classes=1, features_only=True, num_filters=8)
    fields = dict(
        num_classes=3,
        fpn_features=16,
        box_head_fc=32,
        mask_head_features=16,
        mask_head_convs=1,
        rpn_pre_nms_top_k=(64, 32),
        rpn_post_nms_top_k=(48, 24),
        rpn_samples=32,
        roi_samples=40,
        max_detections=6,
    )
    return MaskRCNN(backbone=backbone, **{**fields, **kwargs})


def _shapes(model, images, method=None, *args):
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))
    if method is None:
        return variables, jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
    return variables, jax.eval_shape(
        lambda v: model.apply(v, images, *args, method=method, mutable=["batch_stats"])[0],
        variables,
    )


@pytest.mark.parametrize("max_level", [5, 6])
def test_inference_outputs(max_level):
    model = _tiny(max_level=max_level)
    anchors, counts = model.anchors((SIZE, SIZE))
    assert len(anchors) == sum(counts) and len(counts) == max_level - 1
    variables, out = _shapes(model, jnp.zeros((2, SIZE, SIZE, 3)))
    assert out["boxes"].shape == (2, 6, 4) and out["masks"].shape == (2, 6, 28, 28)
    assert out["classes"].dtype == jnp.int32 and out["valid"].dtype == jnp.bool_
    params = variables["params"]
    assert params["box_head"]["class_logits"]["kernel"].shape == (32, 4)  # K + 1
    assert params["box_head"]["box_deltas"]["kernel"].shape == (32, 12)  # 4 K
    assert params["mask_head"]["predictor"]["kernel"].shape == (1, 1, 16, 3)
    assert params["rpn_head"]["objectness"]["kernel"].shape == (1, 1, 16, 3)
    assert "extra6" not in params["fpn"]  # P6 subsamples P5: no parameters


def test_train_outputs_shapes():
    model = _tiny()
    b, m = 2, 3
    args = (
        jnp.zeros((b, m, 4)),
        jnp.zeros((b, m), jnp.int32),
        jnp.ones((b, m), bool),
        jnp.zeros((b, m, SIZE, SIZE), bool),
        jax.random.key(0),
    )
    _, out = _shapes(model, jnp.zeros((b, SIZE, SIZE, 3)), MaskRCNN.train_outputs, *args)
    assert out["rpn_logits"].shape == (b, 32) and out["rpn_deltas"].shape == (b, 32, 4)
    assert out["roi_logits"].shape == (b, 40, 4) and out["roi_deltas"].shape == (b, 40, 4)
    assert out["mask_logits"].shape == (b, 10, 28, 28)  # 40 * 0.25 positive slots
    assert out["mask_targets"].shape == (b, 10, 28, 28) and out["mask_valid"].shape == (b, 10)


def test_registered_variants_build_their_backbone():
    model = models.get_model(
        "maskrcnn_resnet18_fpn",
        num_classes=5,
        max_detections=4,
        backbone_kwargs={"num_filters": 8},
        fpn_features=16,
    )
    assert isinstance(model, MaskRCNN) and model.num_classes == 5
    _, out = _shapes(model, jnp.zeros((1, SIZE, SIZE, 3)))
    assert out["masks"].shape == (1, 4, 28, 28)
    assert isinstance(models.get_model("maskrcnn_resnet50_fpn", num_classes=80), MaskRCNN)
    with pytest.raises(ValueError, match="backbone"):
        models.MODELS["maskrcnn_resnet50_fpn"](num_classes=2, backbone="vgg19")


def test_heads_variants():
    rois = jnp.zeros((2, 3, 7, 7, 16))
    head = BoxHead(
        num_classes=4, num_convs=4, conv_features=16, num_fc=1, fc_features=32, norm="group"
    )  # Detectron2's "4conv1fc"
    (logits, deltas), variables = jax.eval_shape(
        lambda: head.init_with_output(jax.random.key(0), rois)
    )
    assert logits.shape == (2, 3, 5) and deltas.shape == (2, 3, 4, 4)
    assert "conv3" in variables["params"] and "fc1" not in variables["params"]
    masks = jax.eval_shape(
        lambda: MaskHead(num_classes=4, features=8).init_with_output(
            jax.random.key(0), jnp.zeros((1, 2, 14, 14, 16))
        )[0]
    )
    assert masks.shape == (1, 2, 28, 28, 4)
    with pytest.raises(ValueError, match="norm"):
        BoxHead(num_classes=2, norm="batch").init(jax.random.key(0), rois)


def test_bad_levels():
    with pytest.raises(ValueError, match="roi_max_level"):
        _shapes(_tiny(roi_max_level=6, max_level=5), jnp.zeros((1, SIZE, SIZE, 3)))

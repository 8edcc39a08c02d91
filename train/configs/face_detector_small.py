"""Face detector with five landmarks (RetinaFace), small: a tiny ResNet + FPN P3-P5 with SSH
context modules on the built-in faces (CPU minutes).

The built-in ``jaxvision_faces_scene``: 128 px images with 0-6 procedural faces over clutter,
boxes 16-60 px wide and 1.1-1.45 times as tall, five exact landmarks each (generated on
first use, a few minutes). Anchors: 2 a location, height / width 1.25 (the faces' median),
sizes 2 and 2.8 times the stride (16-90 px). Losses: focal face score, GIoU box, smooth-L1
landmarks coded against the anchor with RetinaFace's variance 0.1. Eval lines carry
``AP50`` (and COCO's other box metrics) and ``landmark_nme`` (mean over the faces matched at
IoU >= 0.5, normalised by the box diagonal).

Run:
  python -m train --config=train/configs/face_detector_small.py --workdir=runs/face_detector_small
  python -m train.predict --workdir=runs/face_detector_small photo.jpg

On the TFDS ``wider_face`` (boxes only: the landmark loss is masked; eval at 640 px):
  python -m train --config=train/configs/face_detector_small.py --workdir=runs/wider \
    --config.dataset.name=wider_face --config.dataset.eval_split=validation \
    --config.dataset.train_pp="decode_faces|flip_lr|scale_jitter(640)" \
    --config.dataset.eval_pp="decode_faces|letterbox(640)" --config.detection.max_boxes=200

On a COCO-format keypoints JSON of your own (five keypoints a face, in MTCNN's order: left
eye, right eye, nose tip, left and right mouth corner; see ``jaxvision.data.coco_json``):
  python -m train --config=train/configs/face_detector_small.py --workdir=runs/mine \
    --config.dataset.name=coco_json --config.dataset.data_dir=PATH \
    --config.dataset.eval_split=val
"""

import ml_collections

from train.configs import detection_common

IMAGE_SIZE = 128
MAX_FACES = 8


def get_config():
    c = detection_common.small_config("retinanet")
    c.task = "face_detection"
    c.model.name = "face_detection"
    c.total_steps = 2400
    c.log_every = 100
    c.checkpoint_every = 800
    c.model.kwargs.context = True
    c.model.kwargs.head_convs = 1
    c.anchors.size_scale = 2.0
    c.anchors.scales = [1.0, 2**0.5]
    c.anchors.aspect_ratios = [1.25]
    c.retinanet.box_loss = "giou"
    c.detection.box_loss_weight = 2.0
    c.detection.max_boxes = MAX_FACES
    c.detection.max_detections = 50
    c.detection.pre_nms_top_k = 300

    c.landmarks = ml_collections.ConfigDict()
    c.landmarks.code_weight = 10.0
    c.landmarks.smooth_l1_beta = 1.0 / 9.0
    c.landmarks.loss_weight = 0.2

    c.dataset.name = "jaxvision_faces_scene"
    c.dataset.train_pp = f"decode_faces|flip_lr|letterbox({IMAGE_SIZE})"
    c.dataset.eval_pp = f"decode_faces|letterbox({IMAGE_SIZE})"
    return c

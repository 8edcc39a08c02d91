"""Pretrained face detection: MTCNN (Zhang et al., 2016) with its five landmarks.

`detect(image)` returns ``(boxes [n, 4], scores [n], landmarks [n, 5, 2])`` as NumPy arrays:
x1, y1, x2, y2 pixel boxes, face probabilities, and (x, y) pixels of the left eye, right eye,
nose, left and right mouth corners (left and right as seen in the image). It needs no network
and no torch: the parameters ship with jaxvision (``jaxvision/faces/weights/mtcnn.npz``,
converted from facenet-pytorch 2.6.0, MIT licence; see ``weights/NOTICE``).

The command ``python -m jaxvision.faces IMAGE... [--out=DIR]`` draws the detections on each
image and writes them as JSON.

Modules: `detector` (the API), `cascade` (the three stages, jitted), `pyramid` (image pyramid,
mosaic and crops), `boxes` (MTCNN's box arithmetic), `weights` (the shipped file).

Example:
  >>> from jaxvision import faces
  >>> boxes, scores, landmarks = faces.detect(np.zeros((8, 8, 3), np.uint8))
  >>> boxes.shape, landmarks.shape
  ((0, 4), (0, 5, 2))
"""

from jaxvision.faces.detector import (
    LANDMARK_NAMES,
    MIN_FACE_SIZE,
    SCALE_FACTOR,
    THRESHOLDS,
    detect,
    detect_batch,
    to_json,
)

__all__ = [
    "LANDMARK_NAMES",
    "MIN_FACE_SIZE",
    "SCALE_FACTOR",
    "THRESHOLDS",
    "detect",
    "detect_batch",
    "to_json",
]

"""Host-side preprocessing ops, registered by name and composed from a spec string.

Each op is a small factory: called with its arguments it returns a function
``op(features, rng) -> features`` over one example (a dict holding at least an
``"image"`` uint8 [H, W, 3] array). Ops run in Grain worker processes on NumPy
arrays; random ops draw only from the ``np.random.Generator`` Grain hands them,
which Grain seeds from the pipeline seed and the example's global index, so
augmentation is reproducible and independent of the number of hosts.

The package:

  ===============  ==================================================================
  registry         ``register``, ``registered_ops``, the spec parser and ``build``
  geometry         ``resize_features``, ``crop_features``, ``flip_features``: move the
                   boxes, ``bbox``, ``image_window`` and ``segmentation_mask`` with
                   the pixels (and flip a restoration pair ``input`` / ``target``)
  image_ops        resize, resize_small, center_crop, resize_center_crop, flip_lr,
                   pad_random_crop, random_resized_crop
  detection_ops    decode_detection, scale_jitter, letterbox, pad_boxes, and the
                   schema of detection examples
  restoration_ops  to_rgb, random_crop, paired_random_crop, rot90, pad_to_canvas,
                   rename: clean images or ``input`` / ``target`` pairs
  segmentation_ops decode_segmentation (a dataset's label map -> training ids),
                   random_crop_pad
  face_detection_ops
                   decode_faces: face boxes and five landmarks (``wider_face`` schema
                   or COCO keypoints); ``landmarks`` moves the points with the geometry
  face_crop_ops    decode_face_crop, flip_face, text_label: one face a crop (``celeb_a``,
                   ``lfw`` schemas): attributes, five landmarks, identities
  ===============  ==================================================================

Importing the package (or any module of it) imports every op module, so every op is
registered. Normalisation to float happens on the device, inside the jitted step
(images travel to the accelerator as uint8: four times less host-to-device traffic).

A pipeline is written as a spec string in the style of big_vision's ``pp``::

    "random_resized_crop(224)|flip_lr"
    "pad_random_crop(32, 4)|flip_lr"
    "resize_small(256)|center_crop(224)"
    "paired_random_crop(96, scale=4)|flip_lr|rot90"

Detection targets are padded to a fixed number of boxes by ``build``'s ``max_boxes``
argument, not by text in the spec.

Example:
    >>> from jaxvision.data import preprocess
    >>> fn = preprocess.build("resize(8)|flip_lr")
    >>> out = fn({"image": np.zeros((32, 32, 3), np.uint8)}, np.random.default_rng(0))
    >>> out["image"].shape
    (8, 8, 3)
"""

from jaxvision.data.preprocess import (
    detection_ops,
    face_crop_ops,
    face_detection_ops,
    geometry,
    image_ops,
    registry,
    restoration_ops,
    segmentation_ops,
)
from jaxvision.data.preprocess.detection_ops import (
    LETTERBOX_FILL,
    PAD_LABEL,
    SCALE_JITTER_FILL,
    decode_detection,
    letterbox,
    pad_boxes,
    scale_jitter,
)
from jaxvision.data.preprocess.face_detection_ops import decode_faces
from jaxvision.data.preprocess.geometry import (
    DROPPED_KEY,
    MIN_VISIBLE_FRACTION,
    PADDED_MARKER_KEY,
    PER_BOX_KEYS,
    PIXEL_KEYS,
    crop_features,
    flip_features,
    resize_features,
)
from jaxvision.data.preprocess.image_ops import (
    CENTER_CROP_FRACTION,
    DEFAULT_CROP_RATIO,
    DEFAULT_CROP_SCALE,
    MAX_CROP_ATTEMPTS,
    center_crop,
    flip_lr,
    pad_random_crop,
    random_resized_crop,
    resize,
    resize_center_crop,
    resize_small,
    sample_crop_window,
)
from jaxvision.data.preprocess.registry import (
    PAD_BOXES_OP,
    Features,
    Op,
    build,
    parse_call,
    register,
    registered_ops,
)
from jaxvision.data.preprocess.restoration_ops import (
    IMAGE_SIZE_KEY,
    aligned_pair,
    as_rgb,
    pad_to_canvas,
    paired_random_crop,
    random_crop,
    reflect_pad,
    rename,
    rot90,
    to_rgb,
)
from jaxvision.data.preprocess.segmentation_ops import decode_segmentation, random_crop_pad

__all__ = [
    "CENTER_CROP_FRACTION",
    "DEFAULT_CROP_RATIO",
    "DEFAULT_CROP_SCALE",
    "DROPPED_KEY",
    "IMAGE_SIZE_KEY",
    "LETTERBOX_FILL",
    "MAX_CROP_ATTEMPTS",
    "MIN_VISIBLE_FRACTION",
    "PADDED_MARKER_KEY",
    "PAD_BOXES_OP",
    "PAD_LABEL",
    "PER_BOX_KEYS",
    "PIXEL_KEYS",
    "SCALE_JITTER_FILL",
    "Features",
    "Op",
    "aligned_pair",
    "as_rgb",
    "build",
    "center_crop",
    "crop_features",
    "decode_detection",
    "decode_faces",
    "decode_segmentation",
    "detection_ops",
    "face_crop_ops",
    "face_detection_ops",
    "flip_features",
    "flip_lr",
    "geometry",
    "image_ops",
    "letterbox",
    "pad_boxes",
    "pad_random_crop",
    "pad_to_canvas",
    "paired_random_crop",
    "parse_call",
    "random_crop",
    "random_crop_pad",
    "random_resized_crop",
    "reflect_pad",
    "register",
    "registered_ops",
    "registry",
    "rename",
    "resize",
    "resize_center_crop",
    "resize_features",
    "resize_small",
    "restoration_ops",
    "rot90",
    "sample_crop_window",
    "scale_jitter",
    "segmentation_ops",
    "to_rgb",
]

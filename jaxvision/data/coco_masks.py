"""COCO ``segmentation`` fields (polygons and RLE) -> per-object boolean masks.

A COCO annotation's ``segmentation`` is one of:

  * polygons: a list of parts ``[[x1, y1, x2, y2, ...], ...]`` in pixels (an object hidden
    in the middle is several parts); their union is the object;
  * an uncompressed RLE ``{"counts": [ints], "size": [height, width]}`` (COCO's ``iscrowd``
    annotations): run lengths over the column-major pixels, starting with a background run;
  * a compressed RLE: the same with ``counts`` a string (pycocotools' encoding).

``clean_segmentation`` checks one annotation when the JSON is read: a polygon part with
fewer than ``MIN_POLYGON_POINTS`` points encloses no area and is dropped (the caller counts
it); a malformed one, or an RLE whose size differs from the image's, is an error naming the
file and the annotation id. ``decode_masks`` rasterises an image's cleaned segmentations
with pycocotools when the example is read.

Example:
  >>> seg, dropped = clean_segmentation(
  ...     {"id": 1, "segmentation": [[0, 0, 4, 0, 4, 2, 0, 2], [5, 5, 6, 6]]}, "a.json", (4, 6))
  >>> dropped, len(seg)  # the 2-point part is dropped
  (1, 1)
  >>> decode_masks([seg], 4, 6, "a.json", [1]).shape
  (1, 4, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

# A polygon part needs this many (x, y) points to enclose an area.
MIN_POLYGON_POINTS = 3

# A cleaned segmentation: polygon parts (lists of floats), or an RLE dict.
Segmentation = list[list[float]] | dict[str, Any]


def has_segmentation(ann: dict) -> bool:
    """Whether an annotation carries a ``segmentation``: an RLE, or polygons other than
    empty lists (detection-only files often hold ``[]`` or ``[[]]``).

    Example:
      >>> [has_segmentation({"segmentation": s}) for s in ([], [[]], [[0] * 6])]
      [False, False, True]
    """
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        return True
    return isinstance(seg, list) and any(not (isinstance(p, list) and not p) for p in seg)


def _where(json_path: str, ann: dict) -> str:
    return f"{json_path}: annotation {ann.get('id')}"


def _check_rle(
    seg: dict, json_path: str, ann: dict, image_hw: tuple[int, int] | None
) -> dict[str, Any]:
    """The RLE dict, checked: a [height, width] size (equal to ``image_hw`` when known) and,
    uncompressed, counts that cover the image exactly."""
    size, counts = seg.get("size"), seg.get("counts")
    if not isinstance(size, list | tuple) or len(size) != 2 or counts is None:
        raise ValueError(
            f"{_where(json_path, ann)} has an RLE segmentation without "
            f"'counts' and 'size' = [height, width]: keys {sorted(seg)}, size {size}"
        )
    size = [int(v) for v in size]
    if image_hw is not None and tuple(size) != tuple(image_hw):
        raise ValueError(
            f"{_where(json_path, ann)} has an RLE of size {size} (height, width) but its "
            f"image is {list(image_hw)}"
        )
    if not isinstance(counts, list | str | bytes):
        raise ValueError(f"{_where(json_path, ann)}: RLE counts must be a list or a string")
    if isinstance(counts, list) and sum(int(c) for c in counts) != size[0] * size[1]:
        raise ValueError(
            f"{_where(json_path, ann)}: its RLE counts sum to {sum(counts)}, not "
            f"{size[0]} * {size[1]} pixels"
        )
    return {"size": size, "counts": counts}


def clean_segmentation(
    ann: dict, json_path: str, image_hw: tuple[int, int] | None = None
) -> tuple[Segmentation | None, int]:
    """An annotation's segmentation, checked, with its polygon parts of < 3 points dropped.

    Args:
      ann: the COCO annotation.
      json_path: the file, for messages.
      image_hw: its image's (height, width) when the JSON gives it (RLE sizes must match).

    Returns:
      ``(segmentation, dropped)``: the polygon parts kept (None when none is left or the
      annotation has no segmentation) or the RLE dict, and how many parts were dropped.

    Raises:
      ValueError: a polygon part with an odd number of coordinates or non-numbers, a
        malformed RLE or one whose size is not the image's; the message names the file and
        the annotation id.
    """
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        return _check_rle(seg, json_path, ann, image_hw), 0
    if not isinstance(seg, list) or not seg:
        return None, 0
    kept = []
    for part in seg:
        try:
            coords = [float(v) for v in part]
        except (TypeError, ValueError):
            raise ValueError(
                f"{_where(json_path, ann)}: a polygon part must be [x1, y1, x2, y2, ...], "
                f"got {part!r}"
            ) from None
        if len(coords) % 2:
            raise ValueError(
                f"{_where(json_path, ann)} has a polygon part of {len(coords)} coordinates; "
                "it must be [x1, y1, x2, y2, ...] pairs"
            )
        if len(coords) >= 2 * MIN_POLYGON_POINTS:
            kept.append(coords)
    return (kept or None), len(seg) - len(kept)


def _rle(seg: Segmentation, height: int, width: int, json_path: str, ann_id: int) -> dict:
    """One object's segmentation as a compressed RLE of the [height, width] image."""
    if isinstance(seg, list):
        return mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    if tuple(seg["size"]) != (height, width):
        raise ValueError(
            f"{json_path}: annotation {ann_id} has an RLE of size {list(seg['size'])} "
            f"(height, width) but its image is {[height, width]}"
        )
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(seg, height, width)
    return dict(seg)


def decode_masks(
    segmentations: Sequence[Segmentation],
    height: int,
    width: int,
    json_path: str,
    ann_ids: Sequence[int],
) -> np.ndarray:
    """One image's cleaned segmentations as boolean masks, one an object.

    Args:
      segmentations: n results of ``clean_segmentation`` (none None).
      height: the decoded image's height.
      width: its width.
      json_path: the file, for messages.
      ann_ids: the n annotation ids, for messages.

    Returns:
      bool [n, height, width]; overlapping objects each keep all their pixels.

    Raises:
      ValueError: an RLE whose size is not (height, width).
    """
    masks = np.zeros((len(segmentations), height, width), bool)  # [n, h, w]
    for i, (seg, ann_id) in enumerate(zip(segmentations, ann_ids, strict=True)):
        masks[i] = mask_utils.decode(_rle(seg, height, width, json_path, ann_id)) > 0  # [h, w]
    return masks

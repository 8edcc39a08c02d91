"""facenet-pytorch's MTCNN cascade (``detect_face`` of version 2.6.0) for one image, written
again with plain torch and NumPy: each candidate kept, eager loops, torch's
``interpolate(mode="area")`` resampling. The tests compare `jaxvision.faces.detect` with it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.models.test_mtcnn import TorchONet, TorchPNet, TorchRNet


def load_nets(state_dicts: dict) -> dict[str, torch.nn.Module]:
    nets = {}
    for name, cls in (("pnet", TorchPNet), ("rnet", TorchRNet), ("onet", TorchONet)):
        nets[name] = cls().eval()
        nets[name].load_state_dict(state_dicts[name])
    return nets


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, over_min: bool = False):
    """Greedy NMS by score; IoU (torchvision's) or, with ``over_min``, intersection over the
    smaller box with inclusive pixel sizes (facenet-pytorch's "Min")."""
    extra = 1.0 if over_min else 0.0
    area = (boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra)
    alive = np.ones(len(boxes), bool)
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if not alive[i]:
            continue
        keep.append(i)
        wh = np.minimum(boxes[i, 2:], boxes[:, 2:]) - np.maximum(boxes[i, :2], boxes[:, :2])
        inter = np.prod(np.maximum(wh + extra, 0.0), axis=1)
        overlap = inter / (np.minimum(area[i], area) if over_min else area[i] + area - inter)
        alive &= overlap <= threshold
    return np.array(keep, int)


def _calibrate(boxes, regression, extra):
    wh = boxes[:, 2:4] - boxes[:, :2] + extra
    return boxes[:, :4] + regression * np.concatenate([wh, wh], axis=1)


def _square(boxes):
    wh = boxes[:, 2:4] - boxes[:, :2]
    side = wh.max(axis=1, keepdims=True)
    top_left = boxes[:, :2] + 0.5 * wh - 0.5 * side
    return np.concatenate([top_left, top_left + side], axis=1)


def _crops(image: torch.Tensor, boxes: np.ndarray, size: int):
    h, w = image.shape[2:]
    b = np.trunc(boxes).astype(int)
    x0, y0 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    kept = [k for k in range(len(b)) if y1[k] > y0[k] and x1[k] > x0[k]]
    crops = [
        F.interpolate(image[:, :, y0[k] : y1[k], x0[k] : x1[k]], size=(size, size), mode="area")
        for k in kept
    ]
    return (torch.cat(crops) - 127.5) * 0.0078125, np.array(kept, int)


def _propose(nets, image, thresholds, min_face_size, factor):
    h, w = image.shape[2:]
    scale, side, found = 12.0 / min_face_size, min(h, w) * 12.0 / min_face_size, []
    while side >= 12:
        level = F.interpolate(image, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
        regression, probs = nets["pnet"]((level - 127.5) * 0.0078125)
        face, regression = probs[0, 1].numpy(), regression[0].numpy()
        rows, cols = np.nonzero(face >= thresholds[0])
        xy = np.stack([cols, rows], axis=1).astype(np.float32)
        scale32 = np.float32(scale)
        boxes = np.concatenate(
            [np.floor((2 * xy + 1) / scale32), np.floor((2 * xy + 12) / scale32)], 1
        )
        cells = np.concatenate([boxes, face[rows, cols, None], regression[:, rows, cols].T], 1)
        found.append(cells[nms(cells[:, :4], cells[:, 4], 0.5)])
        scale, side = scale * factor, side * factor
    cells = np.concatenate(found)
    cells = cells[nms(cells[:, :4], cells[:, 4], 0.7)]
    return _square(_calibrate(cells[:, :4], cells[:, 5:9], 0.0))


@torch.no_grad()
def detect(nets, image: np.ndarray, thresholds=(0.6, 0.7, 0.7), min_face_size=20, factor=0.709):
    """(boxes [n, 4], scores [n], landmarks [n, 5, 2]) of one uint8 RGB image."""
    image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    boxes = _propose(nets, image, thresholds, min_face_size, factor)
    crops, kept = _crops(image, boxes, 24)
    regression, probs = (a.numpy() for a in nets["rnet"](crops))
    passed = probs[:, 1] > thresholds[1]
    boxes, scores, regression = boxes[kept][passed], probs[passed, 1], regression[passed]
    order = nms(boxes, scores, 0.7)
    boxes = _square(_calibrate(boxes[order], regression[order], 1.0))
    crops, kept = _crops(image, boxes, 48)
    regression, landmarks, probs = (a.numpy() for a in nets["onet"](crops))
    passed = probs[:, 1] > thresholds[2]
    boxes, scores = boxes[kept][passed], probs[passed, 1]
    wh = boxes[:, 2:] - boxes[:, :2] + 1
    points = np.stack([landmarks[passed, :5], landmarks[passed, 5:]], axis=-1)  # [n, 5, 2]
    points = boxes[:, None, :2] + wh[:, None] * points - 1
    boxes = _calibrate(boxes, regression[passed], 1.0)
    order = nms(boxes, scores, 0.7, over_min=True)
    return boxes[order], scores[order], points[order]

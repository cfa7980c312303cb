"""From decoded YOLO rows to boxes: score threshold, per-class greedy NMS, boxes in original-image pixels.

Rows are those of ``DarknetModel`` (detect.darknet.network) (OpenCV DNN layout): ``cx, cy, w, h`` as fractions
of the network input, objectness, then objectness x class probability per class. The network input is the whole
image resized without letterbox, so fractions map straight to original-image pixels.
"""

from __future__ import annotations

import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS like ``cv2.dnn.NMSBoxes``: indices kept, by score descending; a box is dropped when its IoU
    with an already kept box is above ``iou_threshold``. ``boxes`` is (N, 4) x1, y1, x2, y2."""
    order = np.argsort(-scores, kind='stable')
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        ih = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = iw * ih
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Per-class NMS in one pass: each class's boxes are shifted to a region of their own so classes never
    suppress each other."""
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.abs(boxes).max()) * 2 + 1
    return nms(boxes + (class_ids.astype(boxes.dtype) * span)[:, None], scores, iou_threshold)


def select_detections(rows: np.ndarray, image_hw: tuple[int, int], conf_threshold: float, nms_threshold: float,
                      class_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, 4, original pixels, clipped), scores and class ids of one image's rows, by score descending.

    Every (box, class) pair with score > ``conf_threshold`` is a candidate (as Darknet and OpenCV do), so one box
    can yield several classes.
    """
    # A class score is objectness x class probability, never above objectness: rows at or under the threshold
    # cannot yield a candidate, and dropping them first avoids scanning every (row, class) pair (~1 ms for COCO).
    rows = rows[rows[:, 4] > conf_threshold]
    class_scores = rows[:, 5:]
    if class_mask is not None:
        class_scores = np.where(class_mask, class_scores, 0)
    row_idx, class_ids = np.nonzero(class_scores > conf_threshold)
    scores = class_scores[row_idx, class_ids].astype(np.float32)
    height, width = image_hw
    cx, cy, w, h = (rows[row_idx, k].astype(np.float64) for k in range(4))
    boxes = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
                     axis=1) if row_idx.size else np.zeros((0, 4))
    keep = batched_nms(boxes, scores, class_ids, nms_threshold)
    boxes = boxes[keep]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes, scores[keep], class_ids[keep]

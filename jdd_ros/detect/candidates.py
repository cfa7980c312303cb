"""One image's boxes before NMS, as the YOLO heads that score classes per box give them, and what happens after:
per-class NMS, boxes back to the image, ``Detection`` records. Shared by the families that decode a user's export
(``ultralytics``, ``yolox``).

Selection follows upstream's predictors (YOLOv5/Ultralytics ``non_max_suppression``, YOLOX ``postprocess``): single
label, class-aware NMS. With objectness (YOLOv5, YOLOX) a class's confidence is objectness x class score and only
the best class of a row is kept; without (YOLOv8 and later) the best class score is. A class filter applies after the
best class is chosen, as upstream: a box whose best class is filtered out is dropped, not relabelled, and as NMS is
per class, the filtered result is exactly the unfiltered one minus the other classes. Up to ``MAX_NMS`` best
candidates go into NMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect.base import to_detections
from jdd_ros.detect.letterbox import Letterbox
from jdd_ros.detect.postprocess import batched_nms

MAX_NMS = 30000  # upstream's cap on boxes fed to NMS: bounds the time of a degenerate frame


@dataclass
class Candidates:
    """One image's boxes that passed the confidence threshold, before NMS."""

    boxes: np.ndarray  # (K, 4) float64 x1, y1, x2, y2 in network-input pixels
    scores: np.ndarray  # (K,) float32
    class_ids: np.ndarray  # (K,) int64

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4)), np.zeros(0, np.float32), np.zeros(0, np.int64))


def xywh_to_xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    cx, cy, w, h = (np.asarray(v, dtype=np.float64) for v in (cx, cy, w, h))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def best_class(scores: np.ndarray, conf_threshold: float,
               class_mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (of (K, nc) ``scores``) whose best class passes: their indices, best scores, best classes."""
    best = scores.argmax(axis=1)
    conf = scores[np.arange(len(best)), best]
    keep = conf > conf_threshold
    if class_mask is not None:
        keep &= class_mask[best]
    return np.nonzero(keep)[0], conf[keep], best[keep].astype(np.int64)


def with_objectness(rows: np.ndarray, num_classes: int, conf_threshold: float,
                    class_mask: np.ndarray | None) -> Candidates:
    """Candidates of (K, 5 + classes) rows cx, cy, w, h (input pixels), objectness, class scores: the best class of
    objectness x class score, kept when it is above ``conf_threshold``."""
    rows = rows[rows[:, 4] > conf_threshold]  # a class confidence never exceeds objectness
    kept, conf, cls = best_class(rows[:, 5:5 + num_classes] * rows[:, 4:5], conf_threshold, class_mask)
    rows = rows[kept]
    return Candidates(xywh_to_xyxy(*rows[:, :4].T), conf, cls)


def nms_order(candidates: Candidates, nms_threshold: float, max_det: int) -> np.ndarray:
    """Indices of the candidates per-class NMS keeps, by score descending, at most ``max_det``."""
    order = np.argsort(-candidates.scores, kind='stable')[:MAX_NMS]
    keep = batched_nms(candidates.boxes[order], candidates.scores[order].astype(np.float64),
                       candidates.class_ids[order], nms_threshold)
    return order[keep[:max_det]]


def image_detections(candidates: Candidates, keep: np.ndarray, letterbox: Letterbox,
                     class_names: Sequence[str]) -> list[Detection]:
    """The ``keep`` candidates as detections, boxes mapped back to (and clipped to) the image's own pixels."""
    return to_detections(letterbox.to_original(candidates.boxes[keep]), candidates.scores[keep],
                         candidates.class_ids[keep], class_names)

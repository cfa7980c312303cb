"""OpenCV DNN as an independent reference for the Darknet models (its own cfg/weights reader and layers).

Used by the tests and the benchmark to prove this package computes what Darknet computes. Needs
``opencv-python(-headless) < 5`` (OpenCV 5 removed ``readNetFromDarknet``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from jdd_ros.core.detection import Detection

# OpenCV's yolo layer zeroes objectness x class probability at or below this (its Darknet importer's default).
OPENCV_CLASS_THRESHOLD = 0.2


class OpenCVDarknet:
    """A Darknet model run by OpenCV DNN at a given input size."""

    def __init__(self, cfg: str | Path, weights: str | Path, input_hw: tuple[int, int]):
        self.net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.output_names = self.net.getUnconnectedOutLayersNames()
        self.input_hw = input_hw

    def raw_outputs(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """The yolo layers' outputs (rows x (5 + classes)), the image preprocessed by ``blobFromImage``."""
        height, width = self.input_hw
        blob = cv2.dnn.blobFromImage(image_rgb, 1 / 255.0, (width, height), swapRB=False, crop=False)
        self.net.setInput(blob)
        return [np.array(o) for o in self.net.forward(self.output_names)]

    def detect(self, image_rgb: np.ndarray, class_names: list[str], conf_threshold: float = 0.25,
               nms_threshold: float = 0.45) -> list[Detection]:
        """Detections the usual OpenCV way: every class score above the threshold, ``cv2.dnn.NMSBoxes`` per class."""
        rows = np.concatenate(self.raw_outputs(image_rgb))
        height, width = image_rgb.shape[:2]
        detections = []
        for class_id in range(rows.shape[1] - 5):
            scores = rows[:, 5 + class_id]
            idx = np.nonzero(scores > conf_threshold)[0]
            if idx.size == 0:
                continue
            cx, cy, w, h = (rows[idx, k].astype(np.float64) for k in range(4))
            boxes = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height], axis=1)
            keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores[idx].tolist(), conf_threshold, nms_threshold)
            for k in np.asarray(keep, dtype=int).reshape(-1):
                x, y, bw, bh = boxes[k]
                detections.append(Detection(
                    class_name=class_names[class_id], score=float(scores[idx[k]]), class_id=class_id,
                    x1=float(np.clip(x, 0, width)), y1=float(np.clip(y, 0, height)),
                    x2=float(np.clip(x + bw, 0, width)), y2=float(np.clip(y + bh, 0, height))))
        return sorted(detections, key=lambda d: -d.score)


def head_relative_error(ours: np.ndarray, reference: np.ndarray, ambiguity: float = 1e-4) -> float:
    """max |ours - reference| / max |reference| over one yolo head's rows.

    OpenCV's class columns are thresholded (zero at or below 0.2), so ours are thresholded the same way first;
    entries within ``ambiguity`` of that threshold are left out, as a 1e-6 difference may put them either side.
    """
    if ours.shape != reference.shape:
        raise ValueError(f'shape {ours.shape} != reference {reference.shape}')
    ours = ours.astype(np.float64)
    reference = reference.astype(np.float64)
    cls = ours[:, 5:]
    ours_thresholded = np.concatenate([ours[:, :5], np.where(cls > OPENCV_CLASS_THRESHOLD, cls, 0)], axis=1)
    usable = np.ones_like(ours, dtype=bool)
    usable[:, 5:] = np.abs(cls - OPENCV_CLASS_THRESHOLD) > ambiguity
    diff = np.abs(ours_thresholded - reference)[usable]
    return float(diff.max() / np.abs(reference).max())


def _iou(a: Detection, b: Detection) -> float:
    iw = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    ih = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = iw * ih
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def compare_detections(ours: list[Detection], reference: list[Detection], min_iou: float = 0.98,
                       max_score_diff: float = 0.01) -> list[str]:
    """Problems found matching ``ours`` one-to-one against ``reference`` (same class, IoU >= min_iou, scores within
    ``max_score_diff``); an empty list means they match."""
    problems = []
    if len(ours) != len(reference):
        problems.append(f'{len(ours)} detections vs {len(reference)} in the reference')
    unmatched = list(ours)
    for ref in reference:
        candidates = [d for d in unmatched if d.class_name == ref.class_name]
        best = max(candidates, key=lambda d: _iou(d, ref), default=None)
        if best is None or _iou(best, ref) < min_iou:
            problems.append(f'reference {ref.class_name} {ref.score:.3f} {ref.xyxy()} has no match with IoU >= '
                            f'{min_iou} (best {best and round(_iou(best, ref), 4)})')
            continue
        if abs(best.score - ref.score) > max_score_diff:
            problems.append(f'{ref.class_name}: score {best.score:.4f} vs reference {ref.score:.4f}')
        unmatched.remove(best)
    problems += [f'extra detection {d.class_name} {d.score:.3f} {d.xyxy()}' for d in unmatched]
    return problems

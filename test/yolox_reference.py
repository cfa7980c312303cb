"""An independent reference for the YOLOX family's detections, written from YOLOX's formulas and on purpose not
like the package: its own preprocessing (``preproc``: top-left, ``int(size * r)``, BGR 0-255) and ONNX Runtime
session on the *raw* export, the anchor grid built cell by cell in Python, the decoding
``xy = (raw_xy + cell) * stride``, ``wh = exp(raw_wh) * stride``, score = objectness x best class score,
OpenCV's NMSBoxesBatched for per-class NMS, and boxes taken back to the image per axis."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort


@dataclass
class RefDetection:
    class_id: int
    score: float
    x1: float
    y1: float
    x2: float
    y2: float


def yolox_preproc(rgb: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int]]:
    """YOLOX's preproc on an RGB image: the CHW float32 BGR input, the ratio and the resized (height, width)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    r = min(input_hw[0] / bgr.shape[0], input_hw[1] / bgr.shape[1])
    nh, nw = int(bgr.shape[0] * r), int(bgr.shape[1] * r)
    padded = np.ones((*input_hw, 3), dtype=np.uint8) * 114
    padded[:nh, :nw] = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    return np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32), r, (nh, nw)


def anchors(input_hw: tuple[int, int], strides: Sequence[int]) -> list[tuple[int, int, int]]:
    """(column, row, stride) of each anchor, levels one after another, each row by row."""
    return [(x, y, s) for s in strides for y in range(input_hw[0] // s) for x in range(input_hw[1] // s)]


def decode(raw: np.ndarray, input_hw: tuple[int, int], strides: Sequence[int] = (8, 16, 32)) -> np.ndarray:
    """The raw head (N, 5 + classes) decoded to input pixels, row by row."""
    out = raw.astype(np.float64).copy()
    for i, (x, y, s) in enumerate(anchors(input_hw, strides)):
        out[i, 0] = (raw[i, 0] + x) * s
        out[i, 1] = (raw[i, 1] + y) * s
        out[i, 2] = math.exp(raw[i, 2]) * s
        out[i, 3] = math.exp(raw[i, 3]) * s
    return out


class Reference:
    def __init__(self, raw_model_path, class_names: Sequence[str], input_hw: tuple[int, int]):
        self.session = ort.InferenceSession(str(raw_model_path), providers=['CPUExecutionProvider'])
        self.names = list(class_names)
        self.input_hw = input_hw

    def raw(self, rgb: np.ndarray) -> np.ndarray:
        x, _, _ = yolox_preproc(rgb, self.input_hw)
        return self.session.run(None, {'images': x[None]})[0][0]

    def detect(self, rgb: np.ndarray, conf: float, iou: float,
               classes: Collection[str] | None = None) -> list[RefDetection]:
        _, r, (nh, nw) = yolox_preproc(rgb, self.input_hw)
        rows = decode(self.raw(rgb), self.input_hw)
        wanted = None if not classes else {self.names.index(n) for n in classes}
        xywh, scores, ids = [], [], []
        for row in rows:
            cls = [float(np.float32(row[4]) * np.float32(p)) for p in row[5:]]  # the model's float32 product
            best = max(range(len(cls)), key=cls.__getitem__)
            if not cls[best] > conf or (wanted is not None and best not in wanted):
                continue
            xywh.append([row[0] - row[2] / 2, row[1] - row[3] / 2, row[2], row[3]])
            scores.append(cls[best])
            ids.append(best)
        keep = list(cv2.dnn.NMSBoxesBatched(xywh, scores, ids, 0.0, iou)) if scores else []
        h, w = rgb.shape[:2]

        def back(v: float, resized: int, original: int) -> float:  # the exact inverse of the resize, clipped
            return min(max(v * original / resized, 0.0), float(original))

        return [RefDetection(ids[i], scores[i], back(xywh[i][0], nw, w), back(xywh[i][1], nh, h),
                             back(xywh[i][0] + xywh[i][2], nw, w), back(xywh[i][1] + xywh[i][3], nh, h))
                for i in keep]

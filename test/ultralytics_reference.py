"""An independent reference for the Ultralytics family's detections, written differently on purpose: its own
letterbox (cv2.copyMakeBorder) and session, one Python loop iteration per output row, OpenCV's NMSBoxesBatched for
per-class NMS, and its own inverse mapping of boxes to the original image."""

from __future__ import annotations

import hashlib
from array import array
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


class Reference:
    def __init__(self, model_path, layout: str, class_names: Sequence[str], input_hw: tuple[int, int],
                 max_det: int = 300):
        self.session = ort.InferenceSession(str(model_path), providers=['CPUExecutionProvider'])
        info = self.session.get_inputs()[0]
        self.input_name = info.name
        self.half = info.type == 'tensor(float16)'
        self.batch = info.shape[0] if isinstance(info.shape[0], int) else 1
        self.layout = layout
        self.names = list(class_names)
        self.input_hw = input_hw
        self.max_det = max_det
        self._cache: dict = {}

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        h, w = image.shape[:2]
        net_h, net_w = self.input_hw
        r = min(net_h / h, net_w / w)
        nw, nh = int(round(w * r)), int(round(h * r))
        im = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        dw, dh = (net_w - nw) / 2, (net_h - nh) / 2
        top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
        left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
        im = cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
        assert im.shape[:2] == (net_h, net_w)
        return im, (top, left, nh, nw)

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The model's output for one image and where the image went (cached: tests ask for several thresholds)."""
        key = hashlib.sha1(image.tobytes() + repr(image.shape).encode()).hexdigest()
        if key not in self._cache:
            self._cache[key] = self._run(image)
        return self._cache[key]

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        canvas, placement = self._letterbox(image)
        x = canvas.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
        x = np.repeat(x, self.batch, axis=0)
        if self.half:
            x = x.astype(np.float16)
        return self.session.run(None, {self.input_name: x})[0][0], placement

    def detect(self, image: np.ndarray, conf: float, iou: float,
               classes: Collection[str] | None = None) -> list[RefDetection]:
        out, (top, left, nh, nw) = self.raw(image)
        wanted = None if not classes else {self.names.index(n) for n in classes}
        nc = len(self.names)
        xywh, scores, ids = [], [], []
        rows = out.T.tolist() if self.layout == 'v8' else out.tolist()
        for row in rows:
            if self.layout == 'v8':
                cls = row[4:4 + nc]
                best = max(range(nc), key=cls.__getitem__)
                score = cls[best]
            elif self.layout == 'v5':
                if not row[4] > conf:
                    continue
                # obj x class probability rounded to float32, the model's own precision (the float64 product of
                # two float32 values is exact, so this is the float32 product)
                cls = array('f', [row[4] * p for p in row[5:5 + nc]]).tolist()
                best = max(range(nc), key=cls.__getitem__)
                score = cls[best]
            else:
                score, best = row[4], int(round(row[5]))
                if not 0 <= best < nc:
                    continue
            if not score > conf or (wanted is not None and best not in wanted):
                continue
            if self.layout == 'end2end':
                x1, y1, x2, y2 = row[:4]
                xywh.append([x1, y1, x2 - x1, y2 - y1])
            else:
                cx, cy, bw, bh = row[:4]
                xywh.append([cx - bw / 2, cy - bh / 2, bw, bh])
            scores.append(score)
            ids.append(best)
        if self.layout == 'end2end':
            keep = sorted(range(len(scores)), key=lambda i: -scores[i])[:self.max_det]
        else:
            keep = list(cv2.dnn.NMSBoxesBatched(xywh, scores, ids, 0.0, iou)) if scores else []
            keep = keep[:self.max_det]
        h, w = image.shape[:2]
        sx, sy = nw / w, nh / h  # resized / original, per axis

        def back(v: float, offset: int, scale: float, limit: int) -> float:
            return min(max((v - offset) / scale, 0.0), float(limit))

        result = []
        for i in keep:
            x, y, bw, bh = xywh[i]
            result.append(RefDetection(ids[i], scores[i], back(x, left, sx, w), back(y, top, sy, h),
                                       back(x + bw, left, sx, w), back(y + bh, top, sy, h)))
        return result

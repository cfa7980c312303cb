"""Letterbox: the input Ultralytics/YOLOv5 models were trained and exported for.

The image is resized keeping its aspect ratio to fit the network input, centred, and the rest filled with grey
114 (ultralytics ``data/augment.py`` LetterBox, yolov5 ``utils/augmentations.py`` letterbox, with ``auto=False`` as
for a fixed-size export): ratio ``r = min(H / h, W / w)``, resized size ``round(w r) x round(h r)`` (bilinear),
top/left padding ``round(pad / 2 - 0.1)``. The tensor is RGB, NCHW, scaled to 0-1.

Boxes go back with the exact inverse of what was done to this image: minus the integer padding, times the
original/resized size per axis. Upstream's ``scale_boxes`` divides by ``r`` and recomputes the padding from the
unrounded size, which can put a box up to ~1 input pixel away from where the object was; only geometry matters
here (depth fusion), so the exact inverse is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from jdd_ros.detect.base import check_rgb_image

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """Where one image went in the network input: resized to ``new_height x new_width`` at ``(top, left)``."""

    height: int
    width: int
    new_height: int
    new_width: int
    top: int
    left: int

    @classmethod
    def fit(cls, image_hw: tuple[int, int], input_hw: tuple[int, int]) -> Letterbox:
        height, width = image_hw
        ratio = min(input_hw[0] / height, input_hw[1] / width)
        # max(1, ...): an extreme aspect ratio must still leave one row/column of image.
        new_height, new_width = max(1, round(height * ratio)), max(1, round(width * ratio))
        top = round((input_hw[0] - new_height) / 2 - 0.1)
        left = round((input_hw[1] - new_width) / 2 - 0.1)
        return cls(height, width, new_height, new_width, top, left)

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """(K, 4) x1, y1, x2, y2 in network-input pixels -> this image's pixels (float64), clipped to it."""
        out = np.asarray(boxes, dtype=np.float64).copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.left) * (self.width / self.new_width)).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.top) * (self.height / self.new_height)).clip(0, self.height)
        return out


def preprocess(images: Sequence[np.ndarray], input_hw: tuple[int, int],
               dtype: type | np.dtype = np.float32) -> tuple[np.ndarray, list[Letterbox]]:
    """Letterbox RGB uint8 images into one (N, 3, H, W) batch of ``dtype`` in 0-1, and where each one went."""
    height, width = input_hw
    canvas = np.full((len(images), height, width, 3), PAD_VALUE, dtype=np.uint8)
    boxes = []
    for slot, image in zip(canvas, images):
        image = check_rgb_image(image)
        box = Letterbox.fit(image.shape[:2], input_hw)
        if (box.new_height, box.new_width) != image.shape[:2]:
            image = cv2.resize(np.ascontiguousarray(image), (box.new_width, box.new_height),
                               interpolation=cv2.INTER_LINEAR)
        slot[box.top:box.top + box.new_height, box.left:box.left + box.new_width] = image
        boxes.append(box)
    batch = np.ascontiguousarray(canvas.transpose(0, 3, 1, 2), dtype=np.float32)
    batch /= 255.0  # a division, as upstream does, so the tensor is bit-identical to theirs
    return (batch if np.dtype(dtype) == np.float32 else batch.astype(dtype)), boxes

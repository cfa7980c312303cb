"""Letterbox: an image resized keeping its aspect ratio onto a grey (114) canvas of the network input, and the exact
way back for boxes. The families differ only in where the image goes and how its size is rounded: centred with
rounded sizes (Ultralytics, YOLOv5: :meth:`Letterbox.fit`), or top-left with truncated sizes (YOLOX:
:meth:`Letterbox.top_left`).

Boxes go back with the exact inverse of what was done to this image: minus the integer padding, times the
original/resized size per axis. Upstream divides by the ratio instead (and Ultralytics recomputes the padding from the
unrounded size), which can put a box up to ~1 input pixel away from where the object was; only geometry matters here
(depth fusion), so the exact inverse is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        """Centred, sizes rounded, top/left padding ``round(pad / 2 - 0.1)`` (ultralytics LetterBox, yolov5
        letterbox with ``auto=False``)."""
        height, width = image_hw
        ratio = min(input_hw[0] / height, input_hw[1] / width)
        # max(1, ...): an extreme aspect ratio must still leave one row/column of image.
        new_height, new_width = max(1, round(height * ratio)), max(1, round(width * ratio))
        top = round((input_hw[0] - new_height) / 2 - 0.1)
        left = round((input_hw[1] - new_width) / 2 - 0.1)
        return cls(height, width, new_height, new_width, top, left)

    @classmethod
    def top_left(cls, image_hw: tuple[int, int], input_hw: tuple[int, int]) -> Letterbox:
        """In the top-left corner, sizes truncated to ints (YOLOX ``preproc``)."""
        height, width = image_hw
        ratio = min(input_hw[0] / height, input_hw[1] / width)
        return cls(height, width, max(1, int(height * ratio)), max(1, int(width * ratio)), 0, 0)

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """(K, 4) x1, y1, x2, y2 in network-input pixels -> this image's pixels (float64), clipped to it."""
        out = np.asarray(boxes, dtype=np.float64).copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.left) * (self.width / self.new_width)).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.top) * (self.height / self.new_height)).clip(0, self.height)
        return out


def letterbox_images(images: Sequence[np.ndarray], input_hw: tuple[int, int],
                     place: Callable[[tuple[int, int], tuple[int, int]], Letterbox] = Letterbox.fit,
                     ) -> tuple[np.ndarray, list[Letterbox]]:
    """RGB uint8 images (checked) resized (bilinear) onto one (N, H, W, 3) uint8 canvas of grey 114 where ``place``
    puts them, and where each one went."""
    height, width = input_hw
    canvas = np.full((len(images), height, width, 3), PAD_VALUE, dtype=np.uint8)
    boxes = []
    for slot, image in zip(canvas, images):
        image = check_rgb_image(image)
        box = place(image.shape[:2], input_hw)
        if (box.new_height, box.new_width) != image.shape[:2]:
            image = cv2.resize(np.ascontiguousarray(image), (box.new_width, box.new_height),
                               interpolation=cv2.INTER_LINEAR)
        slot[box.top:box.top + box.new_height, box.left:box.left + box.new_width] = image
        boxes.append(box)
    return canvas, boxes

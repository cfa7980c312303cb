"""The input Ultralytics/YOLOv5 models were trained and exported for: the image letterboxed (centred on grey 114,
:meth:`jdd_ros.detect.letterbox.Letterbox.fit`), RGB, NCHW, scaled to 0-1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jdd_ros.detect.letterbox import Letterbox, letterbox_images


def preprocess(images: Sequence[np.ndarray], input_hw: tuple[int, int],
               dtype: type | np.dtype = np.float32) -> tuple[np.ndarray, list[Letterbox]]:
    """Letterbox RGB uint8 images into one (N, 3, H, W) batch of ``dtype`` in 0-1, and where each one went."""
    canvas, boxes = letterbox_images(images, input_hw, Letterbox.fit)
    batch = np.ascontiguousarray(canvas.transpose(0, 3, 1, 2), dtype=np.float32)
    batch /= 255.0  # a division, as upstream does, so the tensor is bit-identical to theirs
    return (batch if np.dtype(dtype) == np.float32 else batch.astype(dtype)), boxes

"""The input YOLOX models are trained and exported for (``yolox/data/data_augment.py`` ``preproc``): the image
resized keeping its aspect ratio into the top-left corner of the network input (sizes truncated to ints), the rest
grey 114; BGR, NCHW, float 0-255 with no normalisation (YOLOX >= 0.2; the older "legacy" models were trained on RGB
normalised by ImageNet's mean and std, which an export does not record)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jdd_ros.detect.letterbox import Letterbox, letterbox_images


def preprocess(images: Sequence[np.ndarray], input_hw: tuple[int, int],
               dtype: type | np.dtype = np.float32) -> tuple[np.ndarray, list[Letterbox]]:
    """RGB uint8 images into one (N, 3, H, W) BGR batch of ``dtype`` in 0-255, and where each one went."""
    canvas, boxes = letterbox_images(images, input_hw, Letterbox.top_left)
    batch = np.ascontiguousarray(canvas[..., ::-1].transpose(0, 3, 1, 2), dtype=dtype)
    return batch, boxes

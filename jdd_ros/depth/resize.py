"""The depth network input's resize, shared by inference (``estimator``), training (``datasets``) and int8
calibration, so that all three see the same pixels."""

from __future__ import annotations

import cv2
import numpy as np


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The network input's resize to ``size`` (height, width), also used for training so that both see the same
    pixels: area when either side shrinks (no aliasing), bilinear when enlarging."""
    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    shrink = h < rgb.shape[0] or w < rgb.shape[1]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

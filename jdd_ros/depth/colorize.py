"""A colour-mapped view of metric depth for people (RViz, rqt_image_view): near is red, far is blue, invalid black.

32FC1 depth shows as black-and-white noise in most image viewers; a fixed-meaning colour map lets a person see at a
glance whether the model's depth is plausible.
"""

from __future__ import annotations

import cv2
import numpy as np


def colorize_depth(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """HxW metres (NaN/<=0 invalid) -> HxWx3 uint8 RGB.

    ``near``/``far`` fix the colour scale (e.g. 0 and the node's max_depth); None takes the 2nd/98th percentile of
    the valid pixels of this frame.
    """
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), np.uint8)
    if not valid.any():
        return out
    values = depth[valid]
    lo = float(np.percentile(values, 2)) if near is None else float(near)
    hi = float(np.percentile(values, 98)) if far is None else float(far)
    if hi <= lo:
        hi = lo + 1e-3
    # TURBO maps 0 -> blue, 255 -> red: invert so that near is red.
    scaled = np.zeros(depth.shape, np.float32)
    scaled[valid] = (hi - np.clip(depth[valid], lo, hi)) / (hi - lo) * 255.0
    colored = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_TURBO)  # BGR
    out[valid] = colored[valid][:, ::-1]
    return out

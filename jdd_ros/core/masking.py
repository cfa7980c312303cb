"""The original project's threshold mode (``filter_mode: mask_then_detect``): blank the image beyond ``max_depth``.

The detector then never sees what lies beyond the threshold, so far objects are not detected at all, instead of
being detected and dropped afterwards (``detect_then_filter``, the default). Masked pixels are filled with mid grey
(127, 127, 127): it is the value Darknet pads letterboxed images with, so YOLO was trained to treat it as "no
content"; black would add strong artificial edges along the mask border, and the image mean changes from frame to
frame. Pixels whose depth is unknown (0, NaN, inf: REP 118's invalid values) are masked too by default, because
nothing says they are within the threshold; ``keep_invalid=True`` keeps them (useful with sensor depth, whose holes
are often on dark or shiny near surfaces).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FILL_VALUE = 127


@dataclass(frozen=True)
class MaskResult:
    image: np.ndarray  # HxWx3 uint8, the masked copy (or the input itself when nothing was masked)
    kept_fraction: float  # pixels left visible / all pixels


def depth_mask(depth_m: np.ndarray, max_depth: float, image_shape: tuple[int, int], keep_invalid: bool = False
               ) -> np.ndarray:
    """HxW bool, True where the image stays visible: valid depth <= max_depth (and unknown depth if kept).

    A depth map of another resolution than the image is resized to it (nearest neighbour: depth values are never
    blended across object edges).
    """
    import cv2

    depth = np.asarray(depth_m)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f'a depth image must be a non-empty HxW array, got shape {depth.shape}')
    height, width = image_shape
    if depth.shape != (height, width):
        depth = cv2.resize(depth.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_NEAREST)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
        keep = valid & (depth <= max_depth)
    if keep_invalid:
        keep |= ~valid
    return keep


def mask_beyond(image_rgb: np.ndarray, depth_m: np.ndarray, max_depth: float, keep_invalid: bool = False,
                fill: int = FILL_VALUE) -> MaskResult:
    """The image with every pixel farther than ``max_depth`` metres (or of unknown depth) set to ``fill``.

    ``max_depth <= 0`` means no threshold: the image is returned unchanged (not copied).
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'mask_beyond needs an HxWx3 uint8 image, got shape {image.shape} dtype {image.dtype}')
    if not max_depth > 0:
        return MaskResult(image, 1.0)
    keep = depth_mask(depth_m, max_depth, image.shape[:2], keep_invalid)
    out = image.copy()
    out[~keep] = fill
    return MaskResult(out, float(keep.mean()))

"""A colour-mapped view of metric depth for people (RViz, rqt_image_view), on a fixed metric scale with a legend.

32FC1 depth shows as black-and-white noise in most image viewers, and a colour scale stretched to each frame's own
range changes meaning from frame to frame. Here the scale is fixed, so that a colour always means the same distance:
0 m is dark red (warm, near), ``far`` metres dark blue (cold), along OpenCV's TURBO map reversed; invalid pixels (NaN,
<= 0) are black, depths beyond ``far`` take the colour of ``far``. A legend in metres along the bottom of the image
(docs/depth-model.md, "The coloured view") lets a person read distances off it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_FAR_M = 10.0  # the far end for a model without a maximum depth (an ONNX sidecar with max_depth 0)
MIN_LEGEND_SIZE = (120, 60)  # (width, height): smaller images get no legend (it would cover most of them)
LEGEND_FRACTION = 0.09  # of the image height: the legend band (bar + labels)
_TEXT = (255, 255, 255)
_BACKGROUND = (0, 0, 0)


def colour_scale_far(max_depth: float, model_max_depth: float) -> float:
    """The far end of depth_node's colour scale: ``max_depth`` when set (> 0, the pixels beyond it are NaN anyway),
    else the model's own maximum depth (the checkpoint's or sidecar's ``max_depth``, 10 m for NYU models), else
    ``DEFAULT_FAR_M``."""
    if max_depth > 0:
        return float(max_depth)
    return float(model_max_depth) if model_max_depth > 0 else DEFAULT_FAR_M


def _levels(depth: np.ndarray, far: float) -> np.ndarray:
    """TURBO indices: 255 at 0 m (red), 0 at ``far`` and beyond (blue)."""
    fraction = np.clip(depth / far, 0.0, 1.0)
    return np.rint(255.0 * (1.0 - fraction)).astype(np.uint8)


def depth_colour(depth: np.ndarray | float, far: float) -> np.ndarray:
    """The RGB colour (uint8, shape ``(..., 3)``) of valid depths in metres on the scale 0..``far``."""
    levels = _levels(np.asarray(depth, np.float32), far)
    if levels.size == 0:
        return np.zeros((*levels.shape, 3), np.uint8)
    bgr = cv2.applyColorMap(levels.reshape(-1, 1), cv2.COLORMAP_TURBO).reshape(*levels.shape, 3)
    return np.ascontiguousarray(bgr[..., ::-1])


def nice_ticks(far: float, max_ticks: int = 6) -> list[float]:
    """Round distances from 0 to ``far`` (steps of 1, 2, 2.5 or 5 times a power of ten), at most ``max_ticks``."""
    raw = far / max(1, max_ticks - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw - 1e-12)
    count = int(math.floor(far / step + 1e-9))
    return [round(i * step, 6) for i in range(count + 1)]


def _label(value: float, last: bool) -> str:
    text = f'{value:g}'
    return f'{text} m' if last else text


@dataclass(frozen=True)
class Legend:
    """Where the legend lies in an image: the band (rows ``top``..bottom), the colour bar (rows ``bar_top`` to
    ``bar_bottom``, columns ``x0``..``x1`` for 0..``far`` metres) and each tick's column and label."""

    top: int
    bar_top: int
    bar_bottom: int
    x0: int
    x1: int
    far: float
    ticks: tuple[tuple[int, str], ...]
    font_scale: float

    def column(self, depth_m: float) -> int:
        """The bar's column that shows ``depth_m``."""
        return int(round(self.x0 + (self.x1 - self.x0) * min(max(depth_m / self.far, 0.0), 1.0)))


def legend_layout(width: int, height: int, far: float) -> Legend | None:
    """The legend of a ``width`` x ``height`` view with the scale 0..``far``; None for images too small for one."""
    if width < MIN_LEGEND_SIZE[0] or height < MIN_LEGEND_SIZE[1] or not far > 0:
        return None
    band = max(16, int(round(height * LEGEND_FRACTION)))
    top = height - band
    margin = max(8, width // 32)
    bar_top, bar_bottom = top + 2, top + 2 + max(4, int(band * 0.35))
    font_scale = max(0.3, band / 60.0)
    x0, x1 = margin, width - 1 - 3 * margin
    values = nice_ticks(far)
    legend = Legend(top, bar_top, bar_bottom, x0, x1, far, (), font_scale)
    ticks = tuple((legend.column(v), _label(v, i == len(values) - 1)) for i, v in enumerate(values))
    return Legend(top, bar_top, bar_bottom, x0, x1, far, ticks, font_scale)


def draw_legend(image: np.ndarray, far: float) -> Legend | None:
    """Draw the legend of the scale 0..``far`` over the bottom rows of an RGB view (in place); returns its layout."""
    h, w = image.shape[:2]
    legend = legend_layout(w, h, far)
    if legend is None:
        return None
    image[legend.top:] = _BACKGROUND
    columns = np.arange(legend.x0, legend.x1 + 1)
    depths = (columns - legend.x0) / max(1, legend.x1 - legend.x0) * far
    image[legend.bar_top:legend.bar_bottom, legend.x0:legend.x1 + 1] = depth_colour(depths, far)[None]
    thickness = max(1, int(round(legend.font_scale * 1.5)))
    for x, text in legend.ticks:
        image[legend.bar_bottom:legend.bar_bottom + 3, x] = _TEXT  # the tick mark
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, legend.font_scale, thickness)
        number_width = cv2.getTextSize(text.removesuffix(' m'), cv2.FONT_HERSHEY_SIMPLEX, legend.font_scale,
                                       thickness)[0][0]
        left = int(min(max(0, x - number_width // 2), w - tw - 1))  # the number centred on its tick
        baseline = min(h - 2, legend.bar_bottom + 4 + th)
        cv2.putText(image, text, (left, baseline), cv2.FONT_HERSHEY_SIMPLEX, legend.font_scale, _TEXT, thickness,
                    cv2.LINE_AA)
    return legend


def colorize_depth(depth: np.ndarray, far: float, legend: bool = True) -> np.ndarray:
    """HxW metres (NaN/<=0 invalid) -> HxWx3 uint8 RGB on the fixed scale 0..``far`` metres (near warm, far cold,
    invalid black), with the legend in metres along the bottom unless ``legend`` is False or the image is small."""
    if not far > 0:
        raise ValueError(f'the colour scale needs a far end > 0 m, got {far}')
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), np.uint8)
    out[valid] = depth_colour(depth[valid], far)
    if legend:
        draw_legend(out, far)
    return out

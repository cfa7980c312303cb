"""Boxes with class, score and distance drawn on an image (OpenCV), with labels that stay legible; no ROS imports.

The original project wrote each label at its box corner, so labels of overlapping boxes covered each other. Here
every label gets a filled background and a place that overlaps no other label (searched near its box, the most
confident detection first), with a leader line to its box when it had to move away from it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import cv2
import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.core.tracking import track_of

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45
PAD = 2
DROPPED_COLOUR = (150, 150, 150)
# Distinct, saturated colours (RGB) that stay readable with white text.
PALETTE = ((230, 25, 75), (60, 140, 60), (0, 110, 200), (245, 130, 48), (145, 30, 180), (0, 128, 128),
           (240, 50, 230), (128, 0, 0), (0, 0, 128), (170, 110, 40))

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def class_colour(name: str) -> tuple[int, int, int]:
    """The same colour for a class in every frame and every run."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def label_text(det: Detection, dropped_reason: str = '', show_distance: bool = True) -> str:
    """'chair 0.87 2.35 m'; a tracked detection adds its ID and time to contact when closing: '#3 chair 0.87
    2.35 m TTC 4.1 s'."""
    track = track_of(det)
    text = f'{det.class_name or "?"} {det.score:.2f}'
    if track is not None:
        text = f'#{track.track_id} {text}'
    if show_distance:  # False before fusion (detector output): no distance is known yet, so none is shown
        text += ' ? m' if math.isnan(det.depth) else f' {det.depth:.2f} m'
        if not math.isnan(det.depth) and det.extra.get('depth_source'):  # what gave it: 'depth' image or 'floor'
            text += f" {det.extra['depth_source']}"
    if track is not None and math.isfinite(track.ttc_s):
        text += f' TTC {track.ttc_s:.1f} s'
    return f'{text} ({dropped_reason})' if dropped_reason else text


def label_size(text: str) -> tuple[int, int]:
    (w, h), baseline = cv2.getTextSize(text, FONT, FONT_SCALE, 1)
    return w + 2 * PAD, h + baseline + 2 * PAD


def _finite_box(det: Detection) -> tuple[float, float, float, float] | None:
    box = det.xyxy()
    if not all(math.isfinite(v) for v in box):
        return None
    x1, y1, x2, y2 = np.clip(box, -1e5, 1e5)  # cv2 coordinates are int32
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def layout_labels(boxes: Sequence[tuple[float, float, float, float]], sizes: Sequence[tuple[int, int]],
                  image_size: tuple[int, int]) -> list[Rect | None]:
    """A label rectangle for each box, inside the image and overlapping no other label; None when there is no room.

    Each label tries above its box, inside its top edge, below it, then rows further up and down, then anywhere in
    the image nearest first; the first place free of the labels already placed wins. Boxes are placed in the given
    order (pass the most important first): in a crowded image the least important boxes lose their labels rather
    than covering others.
    """
    width, height = image_size
    occupied = np.zeros((height, width), dtype=np.uint8)  # pixels covered by the labels placed so far
    full_at: tuple[int, int] | None = None
    out: list[Rect | None] = []
    for (x1, y1, x2, y2), (w, h) in zip(boxes, sizes):
        w, h = min(w, width), min(h, height)
        left = int(np.clip(round(x1), 0, width - w))
        right = int(np.clip(round(x2) - w, 0, width - w))
        top = int(round(y1))
        rows = [top - h, top, int(round(y2))]
        rows += [y for k in range(1, height // (h + 1) + 1) for y in (top - h - k * (h + 1), top + k * (h + 1))]
        near = ((x, y) for y in rows for x in (left, right) if 0 <= y <= height - h)
        found = next(((x, y) for x, y in near if not occupied[y:y + h, x:x + w].any()), None)
        if found is None and not (full_at and w >= full_at[0] and h >= full_at[1]):
            found = _nearest_free(cv2.integral(occupied), w, h, left, top - h)  # crowded near the box: anywhere
            full_at = (w, h) if found is None else None  # no room for this size: none for larger labels either
        if found is None:
            out.append(None)
            continue
        x, y = found
        out.append((x, y, x + w, y + h))
        occupied[y:y + h, x:x + w] = 1
    return out


def _nearest_free(integral: np.ndarray, w: int, h: int, x0: int, y0: int) -> tuple[int, int] | None:
    """Top-left corner of the free w x h place nearest (x0, y0) on a 2-pixel grid, from the occupancy's integral."""
    height, width = integral.shape[0] - 1, integral.shape[1] - 1
    ys, xs = np.arange(0, height - h + 1, 2), np.arange(0, width - w + 1, 2)
    ny, nx = ys.size, xs.size
    top, bottom = integral[0:2 * ny:2], integral[h:h + 2 * ny:2]  # rows y and y + h of every candidate
    covered = (bottom[:, w:w + 2 * nx:2] - top[:, w:w + 2 * nx:2] - bottom[:, 0:2 * nx:2] + top[:, 0:2 * nx:2])
    free_y, free_x = np.nonzero(covered == 0)
    if not free_y.size:
        return None
    best = int(np.argmin(np.abs(xs[free_x] - x0) + np.abs(ys[free_y] - y0)))
    return int(xs[free_x[best]]), int(ys[free_y[best]])


def draw_detections(image_rgb: np.ndarray, kept: Sequence[Detection],
                    dropped: Sequence[tuple[Detection, str]] = (),
                    show_distance: bool = True) -> tuple[np.ndarray, list[Rect | None]]:
    """A copy of an HxWx3 RGB image with the kept detections (class colour) and the dropped ones (grey, with why).

    Returns the image and each detection's label rectangle, kept then dropped; None for a box with a NaN corner or a
    label that found no free place.
    """
    out = np.ascontiguousarray(image_rgb).copy()
    height, width = out.shape[:2]
    items = [(d, class_colour(d.class_name), '') for d in kept] + [(d, DROPPED_COLOUR, why) for d, why in dropped]
    drawable = [(k, d, c, why, box) for k, (d, c, why) in enumerate(items) if (box := _finite_box(d)) is not None]
    # Kept before dropped, the most confident first: they get the best label places.
    drawable.sort(key=lambda item: (item[3] != '', -np.nan_to_num(item[1].score)))
    texts = [label_text(d, why, show_distance) for _, d, _, why, _ in drawable]
    placed = layout_labels([box for *_, box in drawable], [label_size(t) for t in texts], (width, height))
    for _, _, colour, why, (x1, y1, x2, y2) in reversed(drawable):  # dropped first, so kept boxes are on top
        cv2.rectangle(out, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), colour,
                      1 if why else 2)
    rects: list[Rect | None] = [None] * len(items)
    for (k, _, colour, _, (x1, y1, _, _)), rect in zip(drawable, placed):  # leader lines under every label
        if rect is None:
            continue
        x0, y0, xe, ye = rects[k] = rect
        box_top = (int(round(x1)), int(round(y1)))
        if not (x0 <= box_top[0] + 1 and box_top[0] - 1 <= xe and y0 - 1 <= box_top[1] <= ye + 1):
            cv2.line(out, (x0, ye if ye <= box_top[1] else y0), box_top, colour, 1, cv2.LINE_AA)
    for (_, _, colour, _, _), text, rect in zip(drawable, texts, placed):
        if rect is None:
            continue
        x0, y0, xe, ye = rect
        cv2.rectangle(out, (x0, y0), (xe - 1, ye - 1), colour, cv2.FILLED)
        _, baseline = cv2.getTextSize(text, FONT, FONT_SCALE, 1)
        cv2.putText(out, text, (x0 + PAD, ye - PAD - baseline), FONT, FONT_SCALE, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out, rects

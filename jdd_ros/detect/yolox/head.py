"""The YOLOX head's output and its decoding (``yolox/models/yolo_head.py``), in numpy.

The head has one anchor per cell of each level (strides 8, 16, 32; 8 to 64 for P6 models) and writes, per anchor,
``cx, cy, w, h, objectness, class scores`` with objectness and class scores already through a sigmoid, levels one
after another, each row-major. Raw (the export's default), ``cx, cy`` are offsets in cells and ``w, h`` log sizes:
``xy = (raw_xy + cell) * stride``, ``wh = exp(raw_wh) * stride``; with ``--decode_in_inference`` the graph did that
and the output is in input pixels. Both have the same shape: only the graph tells them apart (:mod:`.graph`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRIDE_SETS = ((8, 16, 32), (8, 16, 32, 64))  # YOLOX's P5 head; a P6 head (demo_postprocess p6=True)
ROW = 'cx, cy, w, h, objectness, class scores'


def anchor_count(input_hw: tuple[int, int], strides: Sequence[int]) -> int:
    """Rows of a YOLOX head at this input size: one per cell of each level."""
    return sum((input_hw[0] // s) * (input_hw[1] // s) for s in strides)


def strides_of(rows: int, input_hw: tuple[int, int]) -> tuple[int, ...] | None:
    """The head strides an output with ``rows`` anchors has at ``input_hw``, or None when no YOLOX head has that
    many."""
    return next((s for s in STRIDE_SETS if anchor_count(input_hw, s) == rows), None)


def anchor_grid(input_hw: tuple[int, int], strides: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor's cell (column, row) as (N, 2) float32 and its stride as (N, 1) float32, in the head's order."""
    cells, scale = [], []
    for stride in strides:
        rows, cols = np.mgrid[0:input_hw[0] // stride, 0:input_hw[1] // stride]
        cells.append(np.stack([cols.ravel(), rows.ravel()], axis=1))
        scale.append(np.full((rows.size, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(scale).astype(np.float32)


def decode_rows(rows: np.ndarray, cells: np.ndarray, strides: np.ndarray) -> np.ndarray:
    """Raw rows (K, 5 + classes) of the anchors at ``cells``/``strides`` with cx, cy, w, h in input pixels
    (float32, as upstream decodes); the scores are kept."""
    out = rows.copy()
    out[:, 0:2] = (rows[:, 0:2] + cells) * strides
    with np.errstate(over='ignore'):  # exp of a huge log size is inf, as upstream: such a box covers the image
        out[:, 2:4] = np.exp(rows[:, 2:4]) * strides
    return out

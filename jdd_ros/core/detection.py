"""The detection record shared by the detector, the fusion logic, drawing and the offline tools."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Detection:
    """One object in one image; the box is in that image's pixels (x1, y1 inclusive top-left, x2, y2 bottom-right)."""

    class_name: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    class_id: int = -1
    id: str = ''
    # Filled by fusion: metres along the optical axis (NaN = not measurable), its variance, valid-pixel fraction,
    # and the back-projected point in the camera optical frame when intrinsics are known.
    depth: float = math.nan
    depth_variance: float = math.nan
    depth_valid_fraction: float = 0.0
    position: tuple[float, float, float] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.x1 + self.x2), 0.5 * (self.y1 + self.y2))

    def xyxy(self) -> list[float]:
        return [float(self.x1), float(self.y1), float(self.x2), float(self.y2)]

    def to_json(self) -> dict:
        """The record written by ``jdd-ros detect`` / ``jdd-ros fuse`` (JSON has no NaN: unknown depth is null)."""
        out = {
            'class_name': self.class_name,
            'class_id': int(self.class_id),
            'score': float(self.score),
            'bbox_xyxy': [round(v, 2) for v in self.xyxy()],
        }
        if not math.isnan(self.depth) or self.depth_valid_fraction:
            out['depth_m'] = None if math.isnan(self.depth) else float(self.depth)
            out['depth_valid_fraction'] = float(self.depth_valid_fraction)
        return out


def write_json(document: Any, out: str) -> None:
    """Write a ``jdd-ros detect`` / ``jdd-ros fuse`` JSON document to ``out`` ('-' is standard output)."""
    text = json.dumps(document, indent=2)
    if out == '-':
        print(text)
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text + '\n')

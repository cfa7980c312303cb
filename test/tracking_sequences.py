"""Sequences with known motion for the tracker's tests and benchmark: objects moving in the camera's optical frame,
projected with the fixtures' intrinsics (fx = fy = 525, cx = 319.5, cy = 239.5), with detector-like noise."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from jdd_ros.core.detection import Detection

FX, CX, CY, WIDTH, HEIGHT = 525.0, 319.5, 239.5, 640, 480


@dataclass
class MovingObject:
    """A box-shaped object (width x height metres) at (x, y, z) metres moving at (vx, vy, vz) m/s (optical frame)."""

    name: str
    start: tuple[float, float, float]
    velocity: tuple[float, float, float]
    size: tuple[float, float] = (0.5, 1.0)
    class_name: str = 'person'
    hidden: set[int] = field(default_factory=set)  # frame indices where it is not detected (occlusion, a miss)

    def position(self, t: float) -> tuple[float, float, float]:
        return tuple(p + v * t for p, v in zip(self.start, self.velocity))  # type: ignore[return-value]

    def range_rate(self) -> float:
        return self.velocity[2]

    def ttc(self, t: float) -> float:
        """Time to contact in the depth direction (distance / closing speed; inf when not closing)."""
        z, vz = self.position(t)[2], self.velocity[2]
        return z / -vz if vz < 0 else math.inf


@dataclass
class Frame:
    t: float
    stamp_ns: int
    detections: list[Detection]
    truth: list[str]  # the object name of each detection


def project(obj: MovingObject, t: float) -> tuple[float, float, float, float] | None:
    """The object's box in pixels at time t, or None when it is not wholly in the image."""
    x, y, z = obj.position(t)
    if z <= 0.1:
        return None
    w, h = FX * obj.size[0] / z, FX * obj.size[1] / z
    u, v = FX * x / z + CX, FX * y / z + CY
    box = (u - w / 2, v - h / 2, u + w / 2, v + h / 2)
    if box[0] < 0 or box[1] < 0 or box[2] > WIDTH or box[3] > HEIGHT:
        return None
    return box


def sequence(objects: Iterable[MovingObject], seconds: float, rate_hz: float = 10.0, box_noise_px: float = 1.0,
             depth_noise: float = 0.01, seed: int = 0, start_ns: int = 1_000_000_000_000) -> list[Frame]:
    """Frames of detections with Gaussian box-edge noise (pixels) and relative depth noise, shuffled per frame."""
    rng = np.random.default_rng(seed)
    objects = list(objects)
    frames = []
    for k in range(int(round(seconds * rate_hz)) + 1):
        t = k / rate_hz
        dets, names = [], []
        for obj in objects:
            box = project(obj, t)
            if box is None or k in obj.hidden:
                continue
            b = np.asarray(box) + rng.normal(0.0, box_noise_px, 4)
            z = obj.position(t)[2] * (1.0 + rng.normal(0.0, depth_noise))
            dets.append(Detection(obj.class_name, 0.9, *map(float, b), depth=float(z)))
            names.append(obj.name)
        order = rng.permutation(len(dets))
        frames.append(Frame(t, start_ns + int(round(t * 1e9)), [dets[i] for i in order], [names[i] for i in order]))
    return frames

"""Sequences with known motion for the tracker's tests and benchmark: objects moving in the camera's optical frame,
projected with the fixtures' intrinsics (fx = fy = 525, cx = 319.5, cy = 239.5), with detector-like noise; and the
real TUM frame zoomed as a camera approaching the scene (``zoom``, ``truth_object``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from jdd_ros.core.detection import Detection

FX, CX, CY, WIDTH, HEIGHT = 525.0, 319.5, 239.5, 640, 480
# The simulated approach: a scene point at distance d at t = 0 is at d * (1 - SPEED * t / Z0) at t, so every object's
# time to contact is Z0 / SPEED - t and an object at d closes at SPEED * d / Z0 m/s.
Z0, SPEED, RATE_HZ = 3.0, 0.5, 10.0


def zoom_factor(t: float) -> float:
    return Z0 / (Z0 - SPEED * t)


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


def zoom(image: np.ndarray, s: float, cx: float, cy: float, interpolation: int) -> np.ndarray:
    m = np.array([[s, 0.0, (1 - s) * cx], [0.0, s, (1 - s) * cy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=interpolation, borderValue=0)


def zoom_box(box: list[float], s: float, cx: float, cy: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([cx + s * (x1 - cx), cy + s * (y1 - cy), cx + s * (x2 - cx), cy + s * (y2 - cy)])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boxes, written out here as the test's own reference."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def truth_object(det: Detection, objects: list, s: float, cam: Any) -> int | None:
    """The index of the frame-0 object whose zoomed box this detection is (same class, IoU >= 0.5), if one."""
    best, best_iou = None, 0.5
    for i, (name, box, _) in enumerate(objects):
        truth = zoom_box(box, s, cam.cx, cam.cy)
        if name != det.class_name or truth[0] < 0 or truth[1] < 0 or truth[2] > cam.width or truth[3] > cam.height:
            continue
        iou = overlap(np.array(det.xyxy()), truth)
        if iou >= best_iou:
            best, best_iou = i, iou
    return best


def approach_frames(rgb: np.ndarray, depth_m: np.ndarray, cx: float, cy: float,
                    seconds: float) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """(t, zoom factor, rgb, depth in metres, NaN invalid) at RATE_HZ: the frame seen by a camera approaching the
    scene at SPEED (zoom about the principal point; depth nearest-neighbour, divided by the factor)."""
    depth = np.where(np.isfinite(depth_m), depth_m, 0.0).astype(np.float32)
    out = []
    for k in range(int(round(seconds * RATE_HZ)) + 1):
        t = k / RATE_HZ
        s = zoom_factor(t)
        zoomed = zoom(depth, s, cx, cy, cv2.INTER_NEAREST) / s
        zoomed[zoomed <= 0] = np.nan
        out.append((t, s, zoom(rgb, s, cx, cy, cv2.INTER_LINEAR), zoomed))
    return out


def id_switches(ids: dict) -> int:
    """ID switches of {object: {frame index: track IDs}}: frames of an object in which none of its IDs of its previous
    frame is carried on (a duplicate box of one object may hold a second ID beside the first)."""
    switches = 0
    for frames in ids.values():
        seq = [frames[k] for k in sorted(frames)]
        switches += sum(not (a & b) for a, b in zip(seq, seq[1:]))
    return switches

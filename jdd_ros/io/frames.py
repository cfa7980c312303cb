"""Camera frames on disk: colour images, depth PNGs, and RGB-D frames made of both (no ROS).

Depth PNGs are read the way RGB-D datasets and ``ros2 bag`` exports store them: 16-bit integers times a scale
(0.001 for millimetres, TUM's 5000-per-metre files need 0.0002), 0 = invalid (REP 118).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection

# Approximate intrinsics of the 640x480 Kinect-style frames in ../shared/data/rgbd (given with the TUM frame).
KINECT_640x480 = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


@dataclass
class RGBDFrame:
    """One camera frame: RGB image, optional depth in metres (NaN = invalid), intrinsics and known boxes."""

    rgb: np.ndarray
    depth_m: np.ndarray | None = None
    intrinsics: CameraIntrinsics | None = None
    detections: list[Detection] | None = None
    name: str = ''


def _imread(path: str | Path, flags: int, what: str) -> np.ndarray:
    """cv2.imread with errors that name the file (imread returns None alike for a missing and an unreadable file)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} {path} not found')
    image = cv2.imread(str(path), flags)
    if image is None:
        raise ValueError(f'{path} is not an image OpenCV can read')
    return image


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB; FileNotFoundError/ValueError naming the file."""
    import cv2

    return cv2.cvtColor(_imread(path, cv2.IMREAD_COLOR, 'image'), cv2.COLOR_BGR2RGB)


def read_depth_png(path: str | Path, scale: float = 0.001) -> np.ndarray:
    """A single-channel depth image (16-bit PNG) as float32 metres = value x ``scale``, with 0 as NaN."""
    import cv2

    raw = _imread(path, cv2.IMREAD_UNCHANGED, 'depth image')
    if raw.ndim != 2:
        raise ValueError(f'{path}: a depth image has one channel, this one has shape {raw.shape}')
    if not scale > 0:
        raise ValueError(f'depth scale must be > 0, got {scale}')
    metres = raw.astype(np.float32) * np.float32(scale)
    metres[raw == 0] = np.nan
    return metres


def read_rgbd(color: str | Path, depth: str | Path, scale: float = 0.001,
              intrinsics: CameraIntrinsics | None = None) -> RGBDFrame:
    """A colour image and its registered depth PNG as one frame; ValueError when their sizes differ."""
    rgb = read_rgb(color)
    depth_m = read_depth_png(depth, scale)
    if depth_m.shape != rgb.shape[:2]:
        raise ValueError(f'{depth} is {depth_m.shape[1]}x{depth_m.shape[0]} but {color} is '
                         f'{rgb.shape[1]}x{rgb.shape[0]}: the depth must be registered to the colour image')
    return RGBDFrame(rgb, depth_m, intrinsics, name=Path(color).stem)


def shared_rgbd_frames(data_dir: str | Path) -> list[RGBDFrame]:
    """The real RGB-D frames of ../shared/data/rgbd (TUM desk, SUN corridor), with approximate Kinect intrinsics."""
    data_dir = Path(data_dir)
    frames = []
    for name in ('tum_desk', 'sun_corridor'):
        frame = read_rgbd(data_dir / f'{name}_color.png', data_dir / f'{name}_depth_mm.png', 0.001, KINECT_640x480)
        frame.name = name
        frames.append(frame)
    return frames

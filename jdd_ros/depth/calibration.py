"""Calibration images for int8 quantisation: the package's own synthetic scenes (``depth.synthetic``), never the
photos the parity tests use, so that the quantisation is not tuned to what it is judged on.

Scenes are rendered at the camera's usual 4:3 aspect (640x480 frames are the common case) and then brought to the
network input by the model's own preprocessing, as real frames are. The seed range is used by neither training nor
evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from jdd_ros.depth.synthetic_scenes import render_scene

CALIBRATION_SEED_BASE = 2_000_000  # training uses 0.., held-out evaluation 1_000_000..
CALIBRATION_COUNT = 128  # measured: 64 scenes gave larger int8 deviations on the real photos than 128
CALIBRATION_NAME = f'synthetic-scenes-{CALIBRATION_SEED_BASE}-{CALIBRATION_COUNT}-v1'  # in the cache key


def calibration_images(width: int, count: int = CALIBRATION_COUNT) -> Iterator[np.ndarray]:
    """``count`` RGB uint8 scenes ``width`` pixels wide and 3/4 of that high (rounded to even)."""
    height = int(round(width * 3 / 4 / 2)) * 2
    for seed in range(CALIBRATION_SEED_BASE, CALIBRATION_SEED_BASE + count):
        yield render_scene(seed, height, width).rgb

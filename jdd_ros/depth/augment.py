"""Training augmentation for RGB-D pairs: geometric changes touch image and depth together, photometric ones only
the image (DenseDepth's policy: horizontal flip, colour change, RGB channel swap).

A flip must move the depth with the image or the network learns that the left half is nearer; colour must never
touch depth (it is a measurement in metres).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

_PERMUTATIONS = [p for p in itertools.permutations(range(3)) if p != (0, 1, 2)]


def horizontal_flip(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror image and depth left-right together (depth stays metres: a mirrored room has the same distances)."""
    return np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(depth[:, ::-1])


def colour_jitter(rgb: np.ndarray, rng: np.random.Generator, brightness: float = 0.25, contrast: float = 0.25,
                  saturation: float = 0.25) -> np.ndarray:
    """Random brightness, contrast and saturation on a float RGB image in [0, 1] (returns a new image in [0, 1])."""
    out = rgb.astype(np.float32, copy=True)
    out *= rng.uniform(1 - brightness, 1 + brightness)
    grey = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out = grey.mean() + (out - grey.mean()) * rng.uniform(1 - contrast, 1 + contrast)
    grey = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out = grey[..., None] + (out - grey[..., None]) * rng.uniform(1 - saturation, 1 + saturation)
    return np.clip(out, 0.0, 1.0)


def channel_swap(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random non-identity permutation of the colour channels."""
    return np.ascontiguousarray(rgb[..., list(_PERMUTATIONS[rng.integers(len(_PERMUTATIONS))])])


@dataclass(frozen=True)
class AugmentPolicy:
    """Probabilities of each augmentation per sample (DenseDepth: flip 0.5, channel swap 0.5)."""

    flip: float = 0.5
    jitter: float = 0.5
    swap: float = 0.25

    def __call__(self, rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """rgb: float H x W x 3 in [0, 1]; depth: H x W metres."""
        if rng.random() < self.flip:
            rgb, depth = horizontal_flip(rgb, depth)
        if rng.random() < self.jitter:
            rgb = colour_jitter(rgb, rng)
        if rng.random() < self.swap:
            rgb = channel_swap(rgb, rng)
        return rgb, depth

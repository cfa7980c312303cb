"""Darknet ``.weights`` files: a small header, then raw little-endian float32 values, layer after layer.

Header: int32 major, minor, revision, then the count of images seen in training: uint64 when
``major * 10 + minor >= 2``, else int32. No code is ever executed while reading: the body is plain numbers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DarknetWeightsError(ValueError):
    """A .weights file that does not fit its cfg."""


@dataclass(frozen=True)
class WeightsHeader:
    major: int = 0
    minor: int = 2
    revision: int = 5
    seen: int = 0

    @property
    def size(self) -> int:
        """Header bytes: 20 with a 64-bit seen count (format 0.2 and later), else 16."""
        return 20 if self.major * 10 + self.minor >= 2 else 16

    def to_bytes(self) -> bytes:
        head = np.array([self.major, self.minor, self.revision], dtype='<i4').tobytes()
        return head + np.array([self.seen], dtype='<u8' if self.size == 20 else '<i4').tobytes()


def read_header(path: str | Path) -> WeightsHeader:
    with open(path, 'rb') as f:
        start = f.read(12)
        if len(start) < 12:
            raise DarknetWeightsError(f'{path}: {len(start)} bytes, too short for a Darknet weights header')
        major, minor, revision = (int(v) for v in np.frombuffer(start, dtype='<i4'))
        wide = major * 10 + minor >= 2
        seen_bytes = f.read(8 if wide else 4)
        if len(seen_bytes) < (8 if wide else 4):
            raise DarknetWeightsError(f'{path}: truncated inside the Darknet weights header')
        seen = int(np.frombuffer(seen_bytes, dtype='<u8' if wide else '<i4')[0])
    return WeightsHeader(major, minor, revision, seen)


def read_weights(path: str | Path, value_count: int) -> tuple[WeightsHeader, np.ndarray]:
    """The header and exactly ``value_count`` float32 values; refuses a file of any other size."""
    header = read_header(path)
    expected = header.size + 4 * value_count
    actual = os.path.getsize(path)
    if actual != expected:
        raise DarknetWeightsError(
            f'{path}: the file has {actual:,} bytes but the cfg needs {expected:,} bytes '
            f'({header.size}-byte header v{header.major}.{header.minor}.{header.revision} + {value_count:,} float32 '
            f'values); {"truncated" if actual < expected else "too large"}: wrong cfg/weights pair or a damaged '
            'download?')
    values = np.fromfile(path, dtype='<f4', offset=header.size, count=value_count)
    if not np.all(np.isfinite(values)):
        raise DarknetWeightsError(f'{path}: contains NaN or infinite values')
    return header, values.astype(np.float32, copy=False)


def write_weights(path: str | Path, arrays: Iterable[np.ndarray], header: WeightsHeader = WeightsHeader()) -> int:
    """Write a .weights file (header + arrays as float32, in the given order); returns its size in bytes."""
    with open(path, 'wb') as f:
        f.write(header.to_bytes())
        for array in arrays:
            f.write(np.ascontiguousarray(array, dtype='<f4').tobytes())
    return os.path.getsize(path)

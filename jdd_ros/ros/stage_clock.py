"""Per-frame stamps of the pipeline's stages, for ``benchmarks/bench_pipeline.py``'s per-stage profile.

Off unless the pipeline runs with ``--profile-stages FILE``: the nodes then hold a ``StageClock`` and stamp each
frame's stages (received, hand-over done, decoded, pre-processed, inferred, published) with ``time.perf_counter``
(CLOCK_MONOTONIC, the same clock in every process of the machine, so the benchmark can put its own publish and
receive times beside them). Off, a stage costs one ``is None`` check. The stamps are written as JSON at shutdown.
No ROS import.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Hashable
from pathlib import Path

MAX_FRAMES = 100_000  # a long profiled run keeps its first frames only (a few MB)


class StageClock:
    """``mark(frame, stage)`` keeps the first time each stage of each frame was reached."""

    def __init__(self, path: str | Path = '') -> None:
        self.path = path  # where ``write`` puts the stamps
        self._lock = threading.Lock()
        self._frames: dict[Hashable, dict[str, float]] = {}

    def mark(self, frame: Hashable, stage: str) -> None:
        now = time.perf_counter()
        with self._lock:
            stages = self._frames.get(frame)
            if stages is None:
                if len(self._frames) >= MAX_FRAMES:
                    return
                stages = self._frames[frame] = {}
            stages.setdefault(stage, now)

    def frames(self) -> dict[Hashable, dict[str, float]]:
        with self._lock:
            return {k: dict(v) for k, v in self._frames.items()}

    def write(self, path: str | Path = '') -> None:
        """``[{"frame": [camera, stamp_ns], "stages": {stage: perf_counter seconds}}, ...]`` as JSON (to ``path``,
        else the clock's own), the stamps so far: each node writes them at shutdown, the last one has them all."""
        path = path or self.path
        rows = [{'frame': list(k) if isinstance(k, tuple) else k, 'stages': v} for k, v in self.frames().items()]
        Path(path).write_text(json.dumps(rows))

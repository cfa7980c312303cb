"""Infer only the newest frame, once: the hand-over between a node's subscription and its inference thread.

A camera publishes faster than a network infers. The subscription callback gives each message to ``offer``, which
only replaces the waiting one (the replaced one is counted as skipped, never queued); one worker thread takes the
newest waiting message and processes it. The executor thread stays free, so parameter changes are answered at once
and apply to the next frame. No ROS import: the mechanism is tested on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar('T')  # a frame (the nodes': sensor_msgs/Image)


class NewestFrameWorker(Generic[T]):
    """Calls ``process(msg)`` in its own thread on the newest offered message; errors go to ``on_error(msg, exc)``."""

    def __init__(self, process: Callable[[T], object], on_error: Callable[[T, Exception], None],
                 name: str = 'newest_frame_worker'):
        self._process = process
        self._on_error = on_error
        self._cond = threading.Condition()
        self._latest: T | None = None
        self._stopping = False
        self.received = 0
        self.skipped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, msg: T) -> bool:
        """Make ``msg`` the frame to process next; True when it replaced a frame that will never be processed."""
        with self._cond:
            self.received += 1
            replaced = self._latest is not None
            if replaced:
                self.skipped += 1
            self._latest = msg
            self._cond.notify()
        return replaced

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._latest is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                msg, self._latest = self._latest, None
            try:
                self._process(msg)
            except Exception as exc:  # noqa: BLE001 - one failed frame must not stop the node
                self._on_error(msg, exc)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the frame in progress finish, drop the waiting one, end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

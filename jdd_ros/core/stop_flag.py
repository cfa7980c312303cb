"""A stop request that a signal handler may set (Ctrl-C, SIGTERM, a launcher's parent-death signal).

``threading.Event.set`` takes a lock. A Python signal handler runs in the main thread between two bytecodes, so a
signal that arrives while the main thread holds that lock (inside ``Event.wait``), or a second signal while the first
handler is inside ``set``, deadlocks the process for good: seen in CI, a pipeline sent SIGTERM twice in a row hung
with three nested handlers waiting in ``Event.set``, and it kept its DDS participant alive for the tests after it.
Setting a bool takes no lock; ``wait`` polls it.
"""

from __future__ import annotations

import time

POLL_S = 0.02  # how soon a waiter sees the request


class StopFlag:
    """``set`` / ``is_set`` / ``wait`` like ``threading.Event``, safe to set from a signal handler."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False when ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._set:
            left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return self._set

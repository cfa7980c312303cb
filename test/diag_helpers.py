"""Watching /diagnostics from a test: every status received, with the test's monotonic time of arrival."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from jdd_ros.core.health import INPUT_RATE, LAST_INPUT, LATENCY_P50, LATENCY_P95, PUBLISHED_RATE, REFUSED

COMMON_KEYS = (INPUT_RATE, PUBLISHED_RATE, LATENCY_P50, LATENCY_P95, LAST_INPUT, REFUSED, 'frames lost', 'package')


def level(status: Any) -> int:
    return status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)


def values(status: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def describe(status: Any) -> str:
    return f'{status.name} level {level(status)}: {status.message} {values(status)}'


class Statuses:
    """Every DiagnosticStatus on /diagnostics, as (arrival time, status), waited on by name and predicate."""

    def __init__(self, peer: Any):
        from diagnostic_msgs.msg import DiagnosticArray

        from jdd_ros.ros.qos import output_qos

        self.log: list[tuple[float, Any]] = []
        self._cond = threading.Condition()
        peer.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_array, output_qos(100))

    def _on_array(self, msg: Any) -> None:
        now = time.monotonic()
        with self._cond:
            self.log += [(now, s) for s in msg.status]
            self._cond.notify_all()

    def mark(self) -> int:
        """A position in the log: wait(since=mark) looks only at statuses received after it."""
        with self._cond:
            return len(self.log)

    def latest(self, name: str) -> Any | None:
        with self._cond:
            return next((s for _, s in reversed(self.log) if s.name == name), None)

    def wait(self, name: str, predicate: Callable[[Any], bool] = lambda s: True, since: int = 0,
             timeout: float = 30.0) -> tuple[float, Any]:
        """The first status of ``name`` received after ``since`` that satisfies ``predicate``: (arrival, status)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, s in self.log[since:]:
                    if s.name == name and predicate(s):
                        return t, s
                left = deadline - time.monotonic()
                if left <= 0:
                    mine = [describe(s) for _, s in self.log[since:] if s.name == name]
                    raise AssertionError(f'no matching status of {name} within {timeout} s ({len(mine)} of its '
                                         f'statuses and {len(self.log) - since - len(mine)} of others received); '
                                         'last seen:\n' + '\n'.join(mine[-3:]))
                self._cond.wait(min(left, 0.5))

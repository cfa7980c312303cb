"""How often a problem with the input is logged: each distinct refused value gets its own first line at once.

A throttle keyed only by the code location (rclpy's ``throttle_duration_sec``) or only by the cause hid the second of
two different problems: an image with encoding 'foo' logged, one with 'bar' a moment later swallowed, and the user
fixing 'foo' learnt about 'bar' only afterwards. Here the key is the cause AND the value: the same (cause, value) is
logged again only after ``period_s``; a new value of a cause is logged at once, up to ``max_values`` new values of
one cause per period (a stream whose sizes change with every frame must not flood the log; the node's counters keep
the totals). No clock of its own: every call takes ``now``.

The one throttle of the package's nodes, also for their periodic counter summaries (``repeat=False``,
``max_values=1``: one line per period at most, and only when it changed). rclpy's ``throttle_duration_sec`` is not
used for input problems: it is keyed by the call site, which is the hiding described above.
"""

from __future__ import annotations

from collections import deque

MAX_KEYS = 512  # distinct (cause, value) pairs remembered; beyond, the oldest are forgotten


class ProblemThrottle:
    """``allow(cause, value, now)``: whether to log this problem now. With ``repeat=False`` a value is never logged
    again while it is the last one logged for its cause (a summary that has not changed)."""

    def __init__(self, period_s: float, max_values: int = 5, repeat: bool = True):
        self.period_s = period_s
        self.max_values = max_values
        self.repeat = repeat
        self._logged: dict[tuple[str, str], float] = {}
        self._firsts: dict[str, deque[float]] = {}  # per cause: when its recent first lines were logged
        self._latest: dict[str, str] = {}  # per cause: the value logged last

    def allow(self, cause: str, value: str, now: float) -> bool:
        key = (cause, value)
        if not self.repeat and self._latest.get(cause) == value:
            return False
        last = self._logged.get(key)
        if last is not None and now - last < self.period_s:
            return False
        firsts = self._firsts.setdefault(cause, deque())
        while firsts and now - firsts[0] >= self.period_s:
            firsts.popleft()
        if len(firsts) >= self.max_values:
            return False
        firsts.append(now)
        self._latest[cause] = value
        self._logged.pop(key, None)
        self._logged[key] = now
        while len(self._logged) > MAX_KEYS:
            del self._logged[next(iter(self._logged))]
        return True

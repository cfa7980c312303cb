"""A node's log lines about its input, each kind through the one throttle (``jdd_ros.core.log_throttle``).

- ``problem``: a bad input (a refused message, a refused pair): each (cause, value) logged at once, the same again
  only after REPEAT_LOG_PERIOD_S, so a flood stays readable and a second kind of problem is not hidden behind the
  first (the node's counters keep the totals);
- ``note``: a change of what the node assumes (``jdd_ros.core.image_size.Note``), always logged;
- ``summary``: the node's counters, at most every COUNTER_LOG_PERIOD_S and only when they changed; at shutdown always.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rclpy.impl.rcutils_logger import RcutilsLogger

from jdd_ros.core.image_size import Note
from jdd_ros.core.log_throttle import ProblemThrottle

COUNTER_LOG_PERIOD_S = 10.0  # wall time, for logging only: what a node computes never looks at a clock
REPEAT_LOG_PERIOD_S = 5.0  # the same problem is logged at most this often (the counters keep the totals)
SUMMARY = 'counters'


class NodeLog:
    """``problem``, ``note`` and ``summary`` lines of one node (callable from its executor thread)."""

    def __init__(self, logger: RcutilsLogger, clock: Callable[[], float] = time.monotonic):
        self.logger, self._clock = logger, clock
        self._problems = ProblemThrottle(REPEAT_LOG_PERIOD_S)
        self._summaries = ProblemThrottle(COUNTER_LOG_PERIOD_S, max_values=1, repeat=False)

    def problem(self, text: str, cause: str, value: str = '') -> None:
        if self._problems.allow(cause, value, self._clock()):
            self.logger.warning(text)

    def note(self, note: Note | None) -> None:
        if note is not None and note.warning:
            self.logger.warning(note.text)
        elif note is not None:
            self.logger.info(note.text)

    def summary(self, text: str, final: bool = False) -> None:
        """The counters' line: logged when the throttle allows it, and always at shutdown (``final``)."""
        if final:
            self.logger.info(f'at shutdown: {text}')
        elif self._summaries.allow(SUMMARY, text, self._clock()):
            self.logger.info(text)

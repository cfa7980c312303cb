"""A node's health from its counters, for /diagnostics: rates over a window, latency percentiles, and the level with
its reason; no ROS imports, no clock of its own (every call takes ``now``), so the rules are tested with a fake clock.

A node reports cumulative counters (frames received, inferred, refused, ...) once per diagnostics period; the
differences over the last ``WINDOW_S`` give the rates and what happened recently. The rules (README, "Diagnostics"):

- ERROR  a problem the node cannot get past by itself: a QoS incompatibility with a peer on one of its topics (data
         will never flow between them), or inference that raised in the last window.
- WARN   no message on an input for ``STARVED_AFTER_S``; refused messages (bad input) in the last window; fewer
         outputs than ``MIN_PUBLISHED_FRACTION`` of the input rate (judged once ``MIN_FRAMES_TO_JUDGE`` input frames
         arrived in the window).
- OK     otherwise.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # the levels of diagnostic_msgs/DiagnosticStatus
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}

PUBLISH_PERIOD_S = 1.0  # one DiagnosticArray per node per second, the /diagnostics convention
STARVED_AFTER_S = 5.0  # WARN when an input has been silent this long
WINDOW_S = 5.0  # rates, latency percentiles, refusals and failures are judged over this last window
MIN_PUBLISHED_FRACTION = 0.5  # WARN when fewer outputs than this fraction of the input frames are published
MIN_FRAMES_TO_JUDGE = 5  # input frames in the window before the published fraction is judged
MAX_LATENCY_SAMPLES = 1000  # latency samples kept for the percentiles (the newest ones of the window)
STALE_AFTER_S = 3.0 * PUBLISH_PERIOD_S  # jdd-ros status: a status not renewed for this long is shown STALE

# Keys every jdd_ros status carries (README, "Diagnostics"); jdd-ros status shows them as its columns.
INPUT_RATE = 'input rate (Hz)'
PUBLISHED_RATE = 'published rate (Hz)'
LATENCY_P50 = 'latency p50 (ms)'
LATENCY_P95 = 'latency p95 (ms)'
LAST_INPUT = 'last input (s ago)'
SKIPPED = 'frames skipped'
LOST = 'frames lost'
REFUSED = 'refused messages'
LIFECYCLE_STATE = 'lifecycle state'  # a node not 'active' reads no input and is reported WARN
PACKAGE = 'package'  # value 'jdd_ros': how jdd-ros status tells the package's statuses from others
UNKNOWN = 'n/a'
TRACKED_OBJECTS = 'tracked objects'  # fusion_node: its latest frame's objects (ID, distance, time to contact)


@dataclass(frozen=True)
class HealthSpec:
    """Which of a node's counters are its inputs, its output, and its refusals.

    ``inputs`` maps each required input's counter to its name for messages (the topic); ``refused`` are bad input
    (WARN), ``failed`` the node's own failures (ERROR), ``withheld`` frames given no output for a reason the counter's
    name says (WARN).
    """

    inputs: Mapping[str, str]
    published: str
    refused: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()  # frames given no output for a counted cause (too little floor ...): WARN


@dataclass(frozen=True)
class Assessment:
    """The level, a one-line message, and the computed key-values (rates, latency, counters) in display order."""

    level: int
    message: str
    values: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class NodeStatus:
    """One node's status as jdd-ros status shows it (received on /diagnostics at monotonic time ``received``)."""

    name: str
    level: int
    message: str
    hardware_id: str = ''
    values: Mapping[str, str] = field(default_factory=dict)
    received: float = 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError('percentile of no values')
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class CounterHistory:
    """Cumulative counters sampled over time: their growth over the last ``window_s`` and when each last grew."""

    def __init__(self, window_s: float = WINDOW_S):
        self.window_s = window_s
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._grew: dict[str, float] = {}

    def add(self, now: float, totals: Mapping[str, int]) -> None:
        totals = dict(totals)
        if self._samples:
            last = self._samples[-1][1]
            self._grew.update({k: now for k, v in totals.items() if v != last.get(k, 0)})
        self._samples.append((now, totals))
        # Keep the newest sample at or before the window's start: the base the differences are taken from.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def _ends(self) -> tuple[tuple[float, dict[str, int]], tuple[float, dict[str, int]]] | None:
        return (self._samples[0], self._samples[-1]) if len(self._samples) > 1 else None

    def delta(self, name: str) -> int:
        """Growth of ``name`` over the window (0 before two samples; a counter that was reset counts from 0)."""
        ends = self._ends()
        if ends is None:
            return 0
        (_, first), (_, last) = ends
        now_value, then_value = last.get(name, 0), first.get(name, 0)
        return now_value - then_value if now_value >= then_value else now_value

    def rate(self, name: str) -> float | None:
        """Growth per second over the window; None before two samples."""
        ends = self._ends()
        if ends is None:
            return None
        (t0, _), (t1, _) = ends
        return self.delta(name) / (t1 - t0) if t1 > t0 else None

    def last_growth(self, name: str) -> float | None:
        """When ``name`` last grew (the time of the sample that first showed it), None if never seen growing."""
        return self._grew.get(name)


class LatencyWindow:
    """Latency samples (seconds) of the last ``window_s``, at most ``max_samples`` of them."""

    def __init__(self, window_s: float = WINDOW_S, max_samples: int = MAX_LATENCY_SAMPLES):
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, now: float, latency_s: float) -> None:
        if math.isfinite(latency_s):
            self._samples.append((now, latency_s))

    def percentiles(self, now: float, qs: Sequence[float] = (50.0, 95.0)) -> list[float] | None:
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()
        if not self._samples:
            return None
        values = [v for _, v in self._samples]
        return [percentile(values, q) for q in qs]


def _number(value: float | None, digits: int = 1) -> str:
    return UNKNOWN if value is None else f'{value:.{digits}f}'


class Health:
    """The rules applied to one node's counters; ``assess`` once per diagnostics period, ``latency`` per output."""

    def __init__(self, spec: HealthSpec, now: float, totals: Mapping[str, int] | None = None,
                 window_s: float = WINDOW_S):
        """``totals``: the counters at ``now`` (the start), so that the first period's frames count too."""
        self.spec = spec
        self.started = now
        self.history = CounterHistory(window_s)
        self.latencies = LatencyWindow(window_s)
        if totals is not None:
            self.history.add(now, totals)

    def latency(self, now: float, latency_s: float) -> None:
        """One output published ``latency_s`` after its input's header stamp."""
        self.latencies.add(now, latency_s)

    def silent_for(self, now: float) -> dict[str, float]:
        """Seconds since each input last grew (since the start for an input never seen)."""
        return {name: now - (self.history.last_growth(name) or self.started) for name in self.spec.inputs}

    def assess(self, now: float, totals: Mapping[str, int], problems: Sequence[str] = ()) -> Assessment:
        """Add this period's ``totals`` and judge; ``problems`` are ERRORs found outside the counters (QoS)."""
        self.history.add(now, totals)
        findings = [(ERROR, text) for text in problems]
        findings += self._failures() + self._starvation(now, totals) + self._refusals() + self._withheld()
        findings += self._throughput()
        level = max((lvl for lvl, _ in findings), default=OK)
        if findings:
            message = '; '.join(text for lvl, text in sorted(findings, key=lambda f: -f[0]))
        else:
            message = self._ok_message(totals)
        return Assessment(level, message, self._values(now, totals))

    def _input_rate(self) -> float | None:
        rates = [self.history.rate(name) for name in self.spec.inputs]
        return None if any(r is None for r in rates) or not rates else min(rates)

    def _failures(self) -> list[tuple[int, str]]:
        n = sum(self.history.delta(name) for name in self.spec.failed)
        return [(ERROR, f'{n} inference failure(s) in the last {self.history.window_s:.0f} s')] if n else []

    def _starvation(self, now: float, totals: Mapping[str, int]) -> list[tuple[int, str]]:
        out = []
        for name, silent in self.silent_for(now).items():
            if silent >= STARVED_AFTER_S:
                topic = self.spec.inputs[name]
                what = f'for {silent:.0f} s' if totals.get(name, 0) else f'since start ({silent:.0f} s)'
                out.append((WARN, f"no input on '{topic}' {what}"))
        return out

    def _refusals(self) -> list[tuple[int, str]]:
        n = sum(self.history.delta(name) for name in self.spec.refused)
        return [(WARN, f'{n} refused message(s) in the last {self.history.window_s:.0f} s')] if n else []

    def _withheld(self) -> list[tuple[int, str]]:
        window = f'in the last {self.history.window_s:.0f} s'
        return [(WARN, f'{n} {name} {window}') for name in self.spec.withheld if (n := self.history.delta(name))]

    def _throughput(self) -> list[tuple[int, str]]:
        frames = min((self.history.delta(name) for name in self.spec.inputs), default=0)
        rate_in, rate_out = self._input_rate(), self.history.rate(self.spec.published)
        if frames < MIN_FRAMES_TO_JUDGE or not rate_in or rate_out is None:
            return []
        if rate_out < MIN_PUBLISHED_FRACTION * rate_in:
            return [(WARN, f'published {rate_out:.1f}/s of {rate_in:.1f} input frames/s '
                           f'({rate_out / rate_in:.0%}, below {MIN_PUBLISHED_FRACTION:.0%})')]
        return []

    def _ok_message(self, totals: Mapping[str, int]) -> str:
        if not any(totals.get(name, 0) for name in self.spec.inputs):
            return 'waiting for input'
        rate_in, rate_out = self._input_rate(), self.history.rate(self.spec.published)
        if rate_in is None or rate_out is None:
            return 'running'
        return f'{rate_in:.1f} input frames/s, {rate_out:.1f} published/s'

    def _values(self, now: float, totals: Mapping[str, int]) -> list[tuple[str, str]]:
        values = [(INPUT_RATE, _number(self._input_rate()))]
        if len(self.spec.inputs) > 1:
            values += [(f'{name} rate (Hz)', _number(self.history.rate(name))) for name in self.spec.inputs]
        values.append((PUBLISHED_RATE, _number(self.history.rate(self.spec.published))))
        p = self.latencies.percentiles(now)
        values += [(LATENCY_P50, _number(p and 1000 * p[0])), (LATENCY_P95, _number(p and 1000 * p[1]))]
        never = any(not totals.get(name, 0) for name in self.spec.inputs)
        values.append((LAST_INPUT, 'never' if never else _number(max(self.silent_for(now).values(), default=None))))
        values.append((REFUSED, str(sum(totals.get(n, 0) for n in self.spec.refused + self.spec.failed))))
        values += [(name, str(value)) for name, value in totals.items()]
        return values

"""Joining depth and detections of one camera frame by their header stamp; no ROS imports.

Both inputs come from the same camera frame and carry its header stamp, so they are joined by the exact stamp
(integer nanoseconds) in a bounded cache. Only header stamps are used, never the clock, so bag playback with
``use_sim_time`` behaves like a live camera, and a bag that loops (stamps jump back) resets the cache instead of
stalling it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

DEPTH, DETECTIONS = 'depth', 'detections'


@dataclass
class JoinCounters:
    """What the join did so far (logged by the node): every message not joined is counted in one of these."""

    matched: int = 0
    evicted: dict[str, int] = field(default_factory=lambda: {DEPTH: 0, DETECTIONS: 0})
    duplicates: int = 0
    out_of_order: int = 0
    resets: int = 0

    def summary(self) -> str:
        return (f'{self.matched} pairs joined; unmatched and evicted: {self.evicted[DEPTH]} depth, '
                f'{self.evicted[DETECTIONS]} detections; {self.duplicates} duplicate stamps; '
                f'{self.out_of_order} out of order; {self.resets} time jumps (cache reset)')


class StampJoiner:
    """Pairs a depth item and a detections item with the same stamp; memory bounded by ``cache_size`` per side.

    ``add`` returns ``(depth_item, detections_item)`` once both halves of a stamp are in, else None. Unmatched
    items are evicted (and counted) when the cache is full or when a newer stamp has been joined: each topic arrives
    in order, so an older unmatched half can no longer find its partner.

    A stamp further back than the span of the recent stamps, or one its side already sent, is a time jump (a looping
    bag, a restarted source), counted once in ``counters.resets``. The two sides do not jump together: with
    ``ros2 bag play --loop`` one side may already send the new loop while the other still sends the last frames of
    the old one. So the side that jumps first keeps its unmatched old halves apart, where the other side's late
    halves still find them, until that side jumps too (its own old halves are then unmatched for good) or joins a
    frame of the new loop.
    """

    def __init__(self, cache_size: int = 30):
        if cache_size < 1:
            raise ValueError(f'cache_size must be >= 1, got {cache_size}')
        self.cache_size = cache_size
        self.counters = JoinCounters()
        self._pending: dict[str, OrderedDict[int, Any]] = {DEPTH: OrderedDict(), DETECTIONS: OrderedDict()}
        self._last: dict[str, int | None] = {DEPTH: None, DETECTIONS: None}
        self._seen: dict[str, deque[int]] = {DEPTH: deque(maxlen=cache_size), DETECTIONS: deque(maxlen=cache_size)}
        self._recent: deque[int] = deque(maxlen=cache_size)
        self._old_loop: OrderedDict[int, Any] = OrderedDict()  # unmatched halves the leading side sent before its jump
        self._lagging: str | None = None  # the side that has not jumped back yet after the other one did

    def pending(self, side: str) -> int:
        return len(self._pending[side])

    @property
    def span_ns(self) -> int:
        """Time covered by the most recent stamps: how far back a stamp may still be out of order."""
        return max(self._recent) - min(self._recent) if self._recent else 0

    def add(self, side: str, stamp_ns: int, item: Any) -> tuple[Any, Any] | None:
        """Add one half (``side`` is DEPTH or DETECTIONS); returns the (depth, detections) pair it completes, or None.

        A time jump shows as ``counters.resets`` growing; a repeated stamp already joined is ignored.
        """
        other = DETECTIONS if side == DEPTH else DEPTH
        stamp_ns = int(stamp_ns)
        previous = self._last[side]
        if previous is not None and stamp_ns < previous:
            if side == self._lagging or previous - stamp_ns > self.span_ns or stamp_ns in self._seen[side]:
                self._jump(side)
            else:
                self.counters.out_of_order += 1
        elif stamp_ns == previous:
            self.counters.duplicates += 1
            if stamp_ns not in self._pending[side]:
                return None  # joined already (or evicted): a stamp is never joined twice
        last = self._last[side]
        self._last[side] = stamp_ns if last is None else max(last, stamp_ns)
        self._seen[side].append(stamp_ns)
        old_loop = side == self._lagging
        if not old_loop:  # the span is that of the newest loop only
            self._recent.append(stamp_ns)
        partner = self._old_loop.pop(stamp_ns, None) if old_loop else None
        if partner is None:
            old_loop = False
            partner = self._pending[other].pop(stamp_ns, None)
        if partner is None:
            pending = self._pending[side]
            pending[stamp_ns] = item
            while len(pending) > self.cache_size:
                pending.popitem(last=False)
                self.counters.evicted[side] += 1
            return None
        self.counters.matched += 1
        # Older halves cannot be completed any more: their streams moved past them.
        if old_loop:  # a late frame of the old loop: the leading side's new loop is not older
            self._evict(other, self._old_loop, stamp_ns)
            self._evict(side, self._pending[side], stamp_ns)
        else:
            self._end_old_loop()  # both sides are in the same loop now
            for s in (DEPTH, DETECTIONS):
                self._evict(s, self._pending[s], stamp_ns)
        return (item, partner) if side == DEPTH else (partner, item)

    def _jump(self, side: str) -> None:
        """``side``'s stamps went back: it leads into a new loop, or follows the other side into it."""
        other = DETECTIONS if side == DEPTH else DEPTH
        if side == self._lagging:
            self._evict(side, self._pending[side])  # halves of the old loop whose partner never came
            self._end_old_loop()
        else:
            self.counters.resets += 1
            self._evict(side, self._old_loop)  # an older loop's halves, when this side jumps twice in a row
            self._old_loop = self._pending[side]
            self._pending[side] = OrderedDict()
            self._evict(other, self._pending[other])  # this side will never send those stamps again
            self._lagging = other
            self._recent.clear()
        self._last[side] = None
        self._seen[side].clear()

    def _end_old_loop(self) -> None:
        """Both sides have left the old loop: the leading side's halves kept from it can no longer be completed."""
        if self._lagging is not None:
            self._evict(DETECTIONS if self._lagging == DEPTH else DEPTH, self._old_loop)
            self._lagging = None

    def _evict(self, side: str, halves: OrderedDict[int, Any], before_ns: int | None = None) -> None:
        """Drop ``side``'s unmatched halves older than ``before_ns`` (all without it), counting them."""
        old = list(halves) if before_ns is None else [t for t in halves if t < before_ns]
        for t in old:
            del halves[t]
        self.counters.evicted[side] += len(old)

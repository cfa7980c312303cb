"""Matching the messages of one camera frame by their header stamp: the one matcher of every join; no ROS imports.

Messages made from one camera frame carry its header stamp, so they are matched by the exact stamp (integer
nanoseconds), or, for sources that stamp one instant a few milliseconds apart (an RGB-D camera's depth and colour),
by the nearest stamp within a tolerance. Joins of the package: depth + detections (fusion_node), the colour image +
the fused result (fusion_node's ``annotated`` overlay), the colour frame + depth (detector_node's mask_then_detect).

Only header stamps are used, never a clock, so bag playback with ``use_sim_time`` behaves like a live camera, and a
bag that loops (stamps jump back) resets the matcher instead of stalling it. Memory is bounded by ``cache_size`` items
per input, and every item that leaves without its partners is counted (``JoinCounters.evicted``, per input).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

DEPTH, DETECTIONS = 'depth', 'detections'

T = TypeVar('T')
_STORED = object()  # _match's item when the anchor item is in the store already
Store = OrderedDict  # stamp (ns) -> item, oldest first


@dataclass
class JoinCounters:
    """What the matcher did so far (logged by the nodes, on /diagnostics): every item not matched is counted here."""

    inputs: tuple[str, ...] = (DEPTH, DETECTIONS)
    matched: int = 0
    evicted: dict[str, int] = field(default_factory=dict)  # per input: items that left unmatched
    duplicates: int = 0
    out_of_order: int = 0
    resets: int = 0

    def __post_init__(self) -> None:
        self.evicted = {name: self.evicted.get(name, 0) for name in self.inputs}

    def summary(self) -> str:
        evicted = ', '.join(f'{n} {name}' for name, n in self.evicted.items())
        return (f'{self.matched} pairs joined; unmatched and evicted: {evicted}; {self.duplicates} duplicate stamps; '
                f'{self.out_of_order} out of order; {self.resets} time jumps (cache reset)')


class StampMatcher(Generic[T]):
    """Matches one item of each named input by stamp; ``add`` returns ``{input: item}`` once a set is complete.

    A partner is the item of the exact stamp. With ``tolerance_ns`` > 0 the items of the first input (the frame that
    looks for its depth) also take the item nearest in stamp within the tolerance, chosen once that input has sent a
    stamp at least as new (nothing nearer can come any more; ``settle`` chooses from what is there, for a caller that
    stops waiting). Unmatched items are evicted (and counted) when an
    input's cache is full or when a newer set has been matched: each input arrives in order, so an older unmatched
    item can no longer find its partners.

    A stamp further back than the span of the recent stamps, or one its input already sent, is a time jump (a looping
    bag, a restarted source), counted once in ``counters.resets``. The inputs do not jump together: with
    ``ros2 bag play --loop`` one may already send the new loop while another still sends the last frames of the old
    one. So an input that jumps keeps its unmatched old items apart, where the late items of the inputs that have not
    jumped yet still find them, until those jump too (the old items are then unmatched for good) or match a set of
    the new loop.
    """

    def __init__(self, inputs: Sequence[str] = (DEPTH, DETECTIONS), cache_size: int = 30, tolerance_ns: int = 0):
        if cache_size < 1:
            raise ValueError(f'cache_size must be >= 1, got {cache_size}')
        if len(set(inputs)) < 2 or len(set(inputs)) != len(inputs):
            raise ValueError(f'a join needs two or more distinct inputs, got {list(inputs)}')
        self.inputs, self.cache_size, self.tolerance_ns = tuple(inputs), cache_size, int(tolerance_ns)
        self.counters = JoinCounters(self.inputs)
        self._pending: dict[str, Store[int, T]] = {name: OrderedDict() for name in inputs}
        self._old_loop: dict[str, Store[int, T]] = {name: OrderedDict() for name in inputs}  # sent before a jump
        self._lagging: set[str] = set()  # the inputs that have not jumped back yet after another one did
        self._last: dict[str, int | None] = dict.fromkeys(inputs)
        self._seen: dict[str, deque[int]] = {name: deque(maxlen=cache_size) for name in inputs}
        self._recent: deque[int] = deque(maxlen=cache_size)

    def pending(self, name: str) -> int:
        return len(self._pending[name])

    @property
    def span_ns(self) -> int:
        """Time covered by the most recent stamps: how far back a stamp may still be out of order."""
        return max(self._recent) - min(self._recent) if self._recent else 0

    def add(self, name: str, stamp_ns: int, item: T) -> dict[str, T] | None:
        """Add ``name``'s item of ``stamp_ns``; returns the set it completes (input -> item, in input order), or None.

        A time jump shows as ``counters.resets`` growing; a repeated stamp already matched is ignored.
        """
        stamp = int(stamp_ns)
        if not self._admit(name, stamp):
            return None
        if name in self._lagging:  # a late item of the old loop first looks for its partners there
            match = self._match(self._old_view(), name, stamp, item)
            if match is not None:
                return match
        match = self._match(self._pending, name, stamp, item)
        if match is not None:
            return match
        self._store(name, stamp, item)
        return self._match_near(name, stamp) if self.tolerance_ns > 0 else None

    def settle(self, name: str, stamp_ns: int) -> dict[str, T] | None:
        """Stop waiting for the first input's unmatched item of ``stamp_ns`` (``name``): its set with the nearest
        partners within the tolerance that are there now, or None (the item is then withdrawn, counted as evicted)."""
        stamp = int(stamp_ns)
        if stamp not in self._pending[name]:
            return None
        match = self._match(self._pending, name, stamp, _STORED, settle=True)
        if match is None:
            self._evict(name, self._pending[name], only=[stamp])
        return match

    # ---------------------------------------------------------------- order and time jumps

    def _admit(self, name: str, stamp: int) -> bool:
        """Count what the stamp says about the input's order (a jump resets); False: a duplicate already matched."""
        previous = self._last[name]
        if previous is not None and stamp < previous:
            if name in self._lagging or previous - stamp > self.span_ns or stamp in self._seen[name]:
                self._jump(name)
            else:
                self.counters.out_of_order += 1
        elif stamp == previous:
            self.counters.duplicates += 1
            if stamp not in self._pending[name]:
                return False  # matched already (or evicted): a stamp is never matched twice
        last = self._last[name]
        self._last[name] = stamp if last is None else max(last, stamp)
        self._seen[name].append(stamp)
        if name not in self._lagging:  # the span is that of the newest loop only
            self._recent.append(stamp)
        return True

    def _jump(self, name: str) -> None:
        """``name``'s stamps went back: it leads into a new loop, or follows the inputs that did."""
        if name in self._lagging:
            self._lagging.discard(name)
            if self._lagging:  # others still send the old loop: this input's old items wait with the leaders'
                self._old_loop[name], self._pending[name] = self._pending[name], OrderedDict()
            else:
                self._evict(name, self._pending[name])  # old items whose partners never came
                self._end_old_loop()
        else:
            self.counters.resets += 1
            self._end_old_loop()  # an older loop's items, when this input jumps twice in a row
            old = self._old_loop[name] = self._pending[name]
            self._pending[name] = OrderedDict()
            for other in self.inputs:  # waiting for this input's stamps, which it will not send again
                if other != name:
                    lead = other == self.inputs[0]
                    self._evict(other, self._pending[other], only=[
                        s for s in self._pending[other] if self._partner(old, name, s, lead, settle=True) is None])
            self._lagging = set(self.inputs) - {name}
            self._recent.clear()
        self._last[name] = None
        self._seen[name].clear()

    def _end_old_loop(self) -> None:
        """All inputs have left the old loop: the items kept from it can no longer be completed."""
        for name, old in self._old_loop.items():
            self._evict(name, old)
        self._lagging.clear()

    def _old_view(self) -> dict[str, Store[int, T]]:
        """Where the old loop's items are: kept apart for the inputs that jumped, pending for the others."""
        return {n: self._pending[n] if n in self._lagging else self._old_loop[n] for n in self.inputs}

    # ---------------------------------------------------------------- matching

    def _partner(self, store: Mapping[int, T], name: str, stamp: int, nearest: bool, settle: bool = False,
                 ) -> int | None:
        """The stamp of ``name``'s item in ``store`` that matches ``stamp``: the same, else (``nearest``) the nearest
        within the tolerance once ``name`` has sent a stamp at least as new (always when settling)."""
        if stamp in store:
            return stamp
        if not nearest or self.tolerance_ns <= 0 or not store:
            return None
        last = self._last[name]
        if not settle and (last is None or last < stamp) and max(store) < stamp:
            return None  # a nearer one may still come
        nearest = min(store, key=lambda s: abs(s - stamp))
        return nearest if abs(nearest - stamp) <= self.tolerance_ns else None

    def _match(self, view: Mapping[str, Store[int, T]], name: str, stamp: int, item: T | object,
               settle: bool = False) -> dict[str, T] | None:
        """The set that ``name``'s item of ``stamp`` (``item``, or in ``view`` when _STORED) completes in ``view``."""
        stamps, nearest = {name: stamp}, name == self.inputs[0]
        for other in self.inputs:
            if other != name:
                found = self._partner(view[other], other, stamp, nearest, settle)
                if found is None:
                    return None
                stamps[other] = found
        items = {n: view[n].pop(s) if n != name or item is _STORED else item for n, s in stamps.items()}
        self.counters.matched += 1
        if view is self._pending:
            self._end_old_loop()  # all inputs are in the same loop now
        for n, s in stamps.items():  # older items cannot be completed any more: their inputs moved past them
            self._evict(n, view[n], only=[t for t in view[n] if t < s])
        return {n: items[n] for n in self.inputs}

    def _match_near(self, name: str, stamp: int) -> dict[str, T] | None:
        """With a tolerance, ``name``'s new stamp may decide the partners of the first input's waiting items."""
        lead = self.inputs[0]
        for s in [s for s in self._pending[lead] if name != lead and abs(s - stamp) <= self.tolerance_ns]:
            match = self._match(self._pending, lead, s, _STORED)
            if match is not None:
                return match
        return None

    def _store(self, name: str, stamp: int, item: T) -> None:
        pending = self._pending[name]
        pending[stamp] = item
        while len(pending) > self.cache_size:
            pending.popitem(last=False)
            self.counters.evicted[name] += 1

    def _evict(self, name: str, store: Store[int, T], only: Iterable[int] | None = None) -> None:
        """Drop ``name``'s unmatched items (those of the stamps ``only``, else all) from ``store``, counting them."""
        stamps = list(store) if only is None else list(only)
        for s in stamps:
            del store[s]
        self.counters.evicted[name] += len(stamps)

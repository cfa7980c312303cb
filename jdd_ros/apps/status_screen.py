"""The text of ``jdd-ros status``: one table row per node from its /diagnostics status, plain ASCII, no ROS.

A row: level (STALE when the node has not reported for STALE_AFTER_S), node name, input and published rates, latency
p50/p95, skipped, lost and refused frames, and the status message, cut to the terminal's width.
"""

from __future__ import annotations

from collections.abc import Sequence

from jdd_ros.core.health import (
    INPUT_RATE,
    LATENCY_P50,
    LATENCY_P95,
    LEVEL_NAMES,
    LOST,
    PUBLISHED_RATE,
    REFUSED,
    SKIPPED,
    STALE,
    STALE_AFTER_S,
    TRACKED_OBJECTS,
    UNKNOWN,
    NodeStatus,
)

# (heading, key in the status's values, width); numbers are right-aligned
NUMBER_COLUMNS = (('IN/s', INPUT_RATE, 6), ('OUT/s', PUBLISHED_RATE, 6), ('P50ms', LATENCY_P50, 7),
                  ('P95ms', LATENCY_P95, 7), ('SKIP', SKIPPED, 6), ('LOST', LOST, 6), ('REFUSED', REFUSED, 7))
ELLIPSIS = '...'


def level_of(status: NodeStatus, now: float) -> int:
    """The status's level, or STALE when it is older than STALE_AFTER_S (monotonic ``now``)."""
    return STALE if now - status.received > STALE_AFTER_S else status.level


def _cut(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[:max(width - len(ELLIPSIS), 0)] + ELLIPSIS[:width]


def _value(status: NodeStatus, key: str) -> str:
    value = status.values.get(key, '')
    return '-' if value in ('', UNKNOWN) else value


def table(statuses: Sequence[NodeStatus], now: float, width: int | None = None) -> list[str]:
    """The table's lines, each at most ``width`` characters (None: no limit)."""
    name_width = max([len('NODE')] + [len(s.name) for s in statuses])
    head = f"{'LEVEL':<5}  {'NODE':<{name_width}}" + ''.join(f'  {h:>{w}}' for h, _, w in NUMBER_COLUMNS)
    lines = [head + '  MESSAGE']
    for s in statuses:
        age = now - s.received
        message = s.message if level_of(s, now) != STALE else f'no status for {age:.0f} s (last: {s.message})'
        row = f'{LEVEL_NAMES.get(level_of(s, now), "?"):<5}  {s.name:<{name_width}}'
        row += ''.join(f'  {_value(s, key):>{w}}' for _, key, w in NUMBER_COLUMNS)
        lines.append(row + '  ' + message)
    return [_cut(line, width) for line in lines]


def details(statuses: Sequence[NodeStatus], now: float, width: int | None = None) -> list[str]:
    """Every key-value of every status, one per line, under its node."""
    lines = []
    for s in statuses:
        lines.append(_cut(f'{s.name} [{LEVEL_NAMES.get(level_of(s, now), "?")}] {s.hardware_id}', width))
        key_width = max([0] + [len(k) for k in s.values])
        lines += [_cut(f'  {k:<{key_width}}  {v}', width) for k, v in s.values.items()]
    return lines


def screen(statuses: Sequence[NodeStatus], now: float, title: str, width: int | None = None,
           verbose: bool = False) -> list[str]:
    """The whole screen: the title, the table (or what is missing), and with ``verbose`` every key-value."""
    lines = [_cut(title, width), '']
    if not statuses:
        lines.append(_cut('no jdd_ros status on /diagnostics yet: are the nodes running, on this ROS_DOMAIN_ID and '
                          'ROS_AUTOMATIC_DISCOVERY_RANGE?', width))
        return lines
    lines += table(statuses, now, width)
    objects = [(s.name, s.values[TRACKED_OBJECTS]) for s in statuses if s.values.get(TRACKED_OBJECTS)]
    if objects:  # fusion_node's latest frame: track ID, distance, time to contact
        lines += [''] + [_cut(f'{name} objects: {text}', width) for name, text in objects]
    if verbose:
        lines += [''] + details(statuses, now, width)
    return lines

"""The one stamp matcher (core): N inputs, exact or nearest-within-tolerance stamps, bounded, every drop counted.

The two-input exact join of depth and detections (loops of a bag included) is tested in test_fusion.py; here what the
other joins need: a third input, the nearest stamp of an RGB-D camera, a caller that stops waiting.
"""

import pytest

from jdd_ros.core.stamp_join import JoinCounters, StampMatcher

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000


def test_three_inputs_match_once_all_have_the_stamp():
    m = StampMatcher(('a', 'b', 'c'), 10)
    assert m.add('b', 5 * MS, 'b5') is None
    assert m.add('a', 5 * MS, 'a5') is None
    assert m.add('c', 5 * MS, 'c5') == {'a': 'a5', 'b': 'b5', 'c': 'c5'}
    assert list(m.add('a', 7 * MS, 'a7') or ()) == []
    m.add('c', 9 * MS, 'c9')  # 'b' and 'c' of 7 never come
    m.add('a', 9 * MS, 'a9')
    assert m.add('b', 9 * MS, 'b9') == {'a': 'a9', 'b': 'b9', 'c': 'c9'}
    assert m.counters.matched == 2 and m.counters.evicted == {'a': 1, 'b': 0, 'c': 0}


def test_three_inputs_through_a_loop():
    m = StampMatcher(('a', 'b', 'c'), 30)
    t = [T0 + i * 33 * MS for i in range(20)]
    joined = 0
    for _loop in range(3):
        for s in t:
            for name in ('a', 'b', 'c'):
                joined += m.add(name, s, name) is not None
    assert joined == 60 and m.counters.resets == 2 and sum(m.counters.evicted.values()) == 0


def test_nearest_stamp_within_tolerance_is_chosen_once_nothing_nearer_can_come():
    """An RGB-D camera: colour at 100 ms, depth at 70 and 103 ms. The older depth is within 50 ms but the 103 ms one
    is nearer: the match waits until the depth input has passed 100 ms."""
    m = StampMatcher(('frame', 'depth'), 8, tolerance_ns=50 * MS)
    assert m.add('depth', 70 * MS, 'd70') is None
    assert m.add('frame', 100 * MS, 'f100') is None  # depth has not passed 100 ms yet
    assert m.add('depth', 103 * MS, 'd103') == {'frame': 'f100', 'depth': 'd103'}
    assert m.counters.evicted == {'depth': 1, 'frame': 0}  # d70: older than the matched depth


def test_exact_stamp_wins_over_a_nearer_wait():
    m = StampMatcher(('frame', 'depth'), 8, tolerance_ns=50 * MS)
    m.add('depth', 67 * MS, 'd67')
    m.add('depth', 100 * MS, 'd100')
    assert m.add('frame', 100 * MS, 'f100') == {'depth': 'd100', 'frame': 'f100'}
    assert m.add('frame', 133 * MS, 'f133') is None  # 100 ms was matched: nothing within 50 ms is left
    assert m.settle('frame', 133 * MS) is None and m.pending('frame') == 0
    assert m.counters.evicted == {'depth': 1, 'frame': 1}


def test_settle_takes_the_nearest_there_is_or_withdraws():
    m = StampMatcher(('frame', 'depth'), 8, tolerance_ns=50 * MS)
    m.add('depth', 70 * MS, 'd70')
    m.add('frame', 100 * MS, 'f100')
    assert m.settle('frame', 100 * MS) == {'depth': 'd70', 'frame': 'f100'}  # the depth stream stalled
    m.add('depth', 110 * MS, 'd110')
    m.add('frame', 200 * MS, 'f200')
    assert m.settle('frame', 200 * MS) is None  # 90 ms away: not this frame's depth
    assert m.settle('frame', 300 * MS) is None  # never added: nothing to settle
    assert m.counters.matched == 1 and m.counters.evicted == {'depth': 0, 'frame': 1} and m.pending('depth') == 1


def test_beyond_tolerance_is_never_matched():
    m = StampMatcher(('depth', 'frame'), 4, tolerance_ns=50 * MS)
    for i in range(20):
        m.add('depth', i * 100 * MS, i)
        assert m.add('frame', i * 100 * MS + 60 * MS, i) is None
    assert m.counters.matched == 0 and m.pending('depth') == m.pending('frame') == 4
    assert m.counters.evicted == {'depth': 16, 'frame': 16}


def test_bad_construction_is_refused():
    with pytest.raises(ValueError, match='cache_size'):
        StampMatcher(('a', 'b'), 0)
    with pytest.raises(ValueError, match='distinct'):
        StampMatcher(('a', 'a'), 3)


def test_counters_summary_names_every_input():
    c = JoinCounters(('image', 'result'))
    c.evicted['image'] += 2
    assert 'unmatched and evicted: 2 image, 0 result' in c.summary()
    assert JoinCounters().evicted == {'depth': 0, 'detections': 0}


def test_items_may_be_none():
    """What an input carries is the caller's: None is an item like any other."""
    m = StampMatcher(('frame', 'depth'), 4, tolerance_ns=50 * MS)
    m.add('depth', 10 * MS, None)
    assert m.add('frame', 12 * MS, 'f') is None
    assert m.add('depth', 20 * MS, 'd20') == {'frame': 'f', 'depth': None}

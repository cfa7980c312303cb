"""The health rules of /diagnostics (jdd_ros.core.health) with a fake clock: rates over the window, latency
percentiles, and each level decision with its message."""

import numpy as np
import pytest

from jdd_ros.core.health import (
    ERROR,
    INPUT_RATE,
    LAST_INPUT,
    LATENCY_P50,
    LATENCY_P95,
    MIN_FRAMES_TO_JUDGE,
    MIN_PUBLISHED_FRACTION,
    OK,
    PUBLISHED_RATE,
    REFUSED,
    STARVED_AFTER_S,
    WARN,
    WINDOW_S,
    CounterHistory,
    Health,
    HealthSpec,
    LatencyWindow,
    percentile,
)

SPEC = HealthSpec(inputs={'received': '/image'}, published='inferred', refused=('bad',), failed=('failed',))


class Node:
    """A node fed at ``fps`` and inferring ``fraction`` of its frames, assessed once per second on a fake clock."""

    def __init__(self, spec=SPEC):
        self.t = 100.0
        self.totals = {'received': 0, 'inferred': 0, 'bad': 0, 'failed': 0}
        self.health = Health(spec, self.t, self.totals)
        self.first = self.health.assess(self.t, self.totals)

    def run(self, seconds, fps=10, fraction=1.0, problems=()):
        out = None
        for _ in range(int(seconds)):
            self.t += 1.0
            self.totals['received'] += fps
            self.totals['inferred'] += int(round(fps * fraction))
            out = self.health.assess(self.t, self.totals, problems)
        return out

    def values(self, assessment):
        return dict(assessment.values)


def test_percentile_is_numpys_linear_interpolation():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 101):
        values = list(rng.normal(size=n))
        for q in (0, 5, 50, 95, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    with pytest.raises(ValueError):
        percentile([], 50)


def test_counter_history_rates_over_the_window():
    h = CounterHistory(window_s=5.0)
    h.add(0.0, {'n': 0})
    assert h.rate('n') is None and h.delta('n') == 0
    for t in range(1, 11):
        h.add(float(t), {'n': 10 * t if t <= 5 else 50 + 2 * (t - 5)})  # 10/s, then 2/s
    assert h.rate('n') == pytest.approx(2.0)  # only the last 5 s count
    assert h.delta('n') == 10
    assert h.last_growth('n') == 10.0
    h.add(11.0, {'n': 3})  # a counter that was reset (a reconfigured node) counts from 0, never negative
    assert h.delta('n') == 3


def test_latency_percentiles_forget_old_samples():
    w = LatencyWindow(window_s=5.0, max_samples=1000)
    assert w.percentiles(0.0) is None
    for i in range(100):
        w.add(1.0, 0.010 + i * 0.001)
    w.add(1.0, float('nan'))  # ignored
    p50, p95 = w.percentiles(1.0)
    assert p50 == pytest.approx(0.0595) and p95 == pytest.approx(0.10405)
    w.add(7.0, 0.5)
    assert w.percentiles(7.0) == [0.5, 0.5]  # the samples of t=1 are older than the window


def test_waiting_then_ok_with_rates_and_keys():
    node = Node()
    first = node.first
    assert (first.level, first.message) == (OK, 'waiting for input')
    assert node.values(first)[INPUT_RATE] == 'n/a' and node.values(first)[LAST_INPUT] == 'never'
    node.health.latency(node.t, 0.050)
    node.health.latency(node.t, 0.150)
    a = node.run(6, fps=10)
    v = node.values(a)
    assert a.level == OK and a.message == '10.0 input frames/s, 10.0 published/s'
    assert (v[INPUT_RATE], v[PUBLISHED_RATE], v[REFUSED], v['received']) == ('10.0', '10.0', '0', '60')
    assert (v[LATENCY_P50], v[LATENCY_P95]) == ('n/a', 'n/a')  # the two samples are older than the window
    node.health.latency(node.t, 0.050)
    node.health.latency(node.t, 0.150)
    v = node.values(node.run(1))
    assert (v[LATENCY_P50], v[LATENCY_P95]) == ('100.0', '145.0')
    assert v[LAST_INPUT] == '0.0'


def test_starved_input_warns_after_the_stated_time_and_recovers():
    node = Node()
    assert node.run(3).level == OK
    # Frames stop: still OK while silent for less than STARVED_AFTER_S, WARN from then on.
    for silent in range(1, 12):
        node.t += 1.0
        a = node.health.assess(node.t, node.totals)
        assert a.level == (WARN if silent >= STARVED_AFTER_S else OK), silent
    assert a.message == f"no input on '/image' for {silent} s"
    assert node.values(a)[LAST_INPUT] == f'{silent:.1f}'
    # Frames return: OK at the first assessment that sees them; the rate rule waits for enough frames.
    a = node.run(1, fps=2, fraction=0.0)
    assert a.level == OK, a.message


def test_never_any_input_warns_after_the_start_grace():
    node = Node()
    for _ in range(int(STARVED_AFTER_S) - 1):
        node.t += 1.0
        assert node.health.assess(node.t, node.totals).level == OK
    node.t += 1.0
    a = node.health.assess(node.t, node.totals)
    assert (a.level, a.message) == (WARN, f"no input on '/image' since start ({STARVED_AFTER_S:.0f} s)")


def test_published_below_the_fraction_of_the_input_warns():
    node = Node()
    a = node.run(8, fps=10, fraction=MIN_PUBLISHED_FRACTION - 0.1)
    assert a.level == WARN and a.message == 'published 4.0/s of 10.0 input frames/s (40%, below 50%)'
    assert node.run(8, fps=10, fraction=MIN_PUBLISHED_FRACTION).level == OK
    # Fewer than MIN_FRAMES_TO_JUDGE input frames in the window: not judged (the first frames, or frames returning).
    slow = Node()
    assert slow.run(MIN_FRAMES_TO_JUDGE - 1, fps=1, fraction=0.0).level == OK
    assert slow.run(1, fps=1, fraction=0.0).level == WARN


def test_refused_messages_warn_for_one_window_and_failures_are_errors():
    node = Node()
    node.run(3)
    node.totals['bad'] += 2
    a = node.run(1)
    assert (a.level, a.message) == (WARN, f'2 refused message(s) in the last {WINDOW_S:.0f} s')
    assert node.values(a)[REFUSED] == '2'
    assert node.run(int(WINDOW_S) + 1).level == OK  # the window moved past them; the total stays
    node.totals['failed'] += 1
    a = node.run(1)
    assert (a.level, a.message) == (ERROR, f'1 inference failure(s) in the last {WINDOW_S:.0f} s')
    assert node.values(a)[REFUSED] == '3'


def test_problems_are_errors_listed_first():
    node = Node()
    node.run(3)
    node.totals['bad'] += 1
    a = node.run(1, problems=["incompatible QoS on '/image' with publisher /cam: reliability"])
    assert a.level == ERROR
    assert a.message == ("incompatible QoS on '/image' with publisher /cam: reliability; "
                         f'1 refused message(s) in the last {WINDOW_S:.0f} s')


def test_two_inputs_each_starved_on_its_own_and_the_slower_rate_is_the_input_rate():
    spec = HealthSpec(inputs={'depth received': '/depth', 'detections received': '/detections'},
                      published='pairs', refused=('pairs refused',))
    h = Health(spec, 0.0)
    totals = {'depth received': 0, 'detections received': 0, 'pairs': 0, 'pairs refused': 0}
    for t in range(1, 7):
        totals['depth received'] += 10
        totals['detections received'] += 5
        totals['pairs'] += 5
        a = h.assess(float(t), totals)
    v = dict(a.values)
    assert a.level == OK
    assert (v[INPUT_RATE], v['depth received rate (Hz)'], v['detections received rate (Hz)']) == ('5.0', '10.0', '5.0')
    for t in range(7, 7 + int(STARVED_AFTER_S)):  # detections stop, depth goes on
        totals['depth received'] += 10
        a = h.assess(float(t), totals)
    assert (a.level, a.message) == (WARN, f"no input on '/detections' for {STARVED_AFTER_S:.0f} s")


def test_the_diagnostics_doc_states_the_rules_with_these_constants_and_the_keys():
    from pathlib import Path

    from jdd_ros.core import health

    section = (Path(__file__).resolve().parents[1] / 'docs' / 'diagnostics.md').read_text()
    stated = {
        'PUBLISH_PERIOD_S': f'{health.PUBLISH_PERIOD_S:g} s',
        'STARVED_AFTER_S': f'{health.STARVED_AFTER_S:g} s',
        'WINDOW_S': f'{health.WINDOW_S:g} s',
        'MIN_PUBLISHED_FRACTION': f'{100 * health.MIN_PUBLISHED_FRACTION:g} %',
        'MIN_FRAMES_TO_JUDGE': f'{health.MIN_FRAMES_TO_JUDGE}',
    }
    for name, value in stated.items():
        assert f'`{name}` = {value}' in section, name
    for key in (health.INPUT_RATE, health.PUBLISHED_RATE, health.LATENCY_P50, health.LATENCY_P95, health.LAST_INPUT,
                health.REFUSED, health.SKIPPED, health.LOST, health.PACKAGE):
        assert f'`{key}`' in section, key


def test_frames_withheld_for_a_cause_warn_with_the_cause_for_one_window():
    spec = HealthSpec(inputs={'received': '/image'}, published='inferred',
                      withheld=('frames without output (too little floor)',))
    node = Node(spec)
    node.totals['frames without output (too little floor)'] = 0
    node.run(3)
    node.totals['frames without output (too little floor)'] += 2
    a = node.run(1)
    assert (a.level, a.message) == (WARN, f'2 frames without output (too little floor) in the last {WINDOW_S:.0f} s')
    assert node.values(a)['frames without output (too little floor)'] == '2'
    assert node.run(int(WINDOW_S) + 1).level == OK

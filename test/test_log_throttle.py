"""The bad-input throttle (core): each distinct refused value gets its first line at once, the same one again only
after the period, and a cause with ever-new values cannot flood the log. Fake clock."""

from jdd_ros.core.log_throttle import ProblemThrottle


def test_each_value_has_its_own_first_line_within_the_period():
    throttle = ProblemThrottle(period_s=5.0)
    assert throttle.allow('image: unsupported encoding', "'foo'", 0.0)
    assert throttle.allow('image: unsupported encoding', "'bar'", 0.1)  # another value: logged at once
    assert not throttle.allow('image: unsupported encoding', "'foo'", 0.2)  # the same again: throttled
    assert not throttle.allow('image: unsupported encoding', "'bar'", 4.9)
    assert throttle.allow('image: unsupported encoding', "'foo'", 5.0)  # after the period: once more
    assert throttle.allow('depth image: empty image', "'foo'", 0.3)  # another cause, same value


def test_a_cause_with_ever_changing_values_is_capped_per_period():
    throttle = ProblemThrottle(period_s=1.0, max_values=3)
    allowed = [throttle.allow('bad size', f'{n} bytes', 0.01 * n) for n in range(10)]
    assert allowed == [True, True, True] + [False] * 7
    assert throttle.allow('other cause', 'x', 0.5)
    assert throttle.allow('bad size', '99 bytes', 1.2)  # the period moved on


def test_a_summary_is_logged_once_per_period_and_only_when_it_changed():
    """The nodes' periodic counter lines: the first at once, then at most one per period, none while unchanged."""
    throttle = ProblemThrottle(period_s=10.0, max_values=1, repeat=False)
    assert throttle.allow('counters', '1 pair', 0.0)
    assert not throttle.allow('counters', '2 pairs', 5.0)  # changed, but within the period
    assert throttle.allow('counters', '3 pairs', 10.0)
    assert not throttle.allow('counters', '3 pairs', 25.0)  # unchanged: nothing new to say
    assert throttle.allow('counters', '4 pairs', 25.1)

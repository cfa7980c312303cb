"""LockstepFrames: every member infers the same frames, in parallel, and only the newest waiting frame."""

import threading
import time

from jdd_ros.ros.lockstep_frames import LockstepFrames, Member


class Recorder:
    def __init__(self, name, seconds):
        self.name, self.seconds, self.seen, self.replaced = name, seconds, [], 0
        self.started = threading.Event()

    def member(self):
        return Member(self.name, self.process, self.on_error, self.on_replaced)

    def process(self, msg):
        self.started.set()
        time.sleep(self.seconds)
        if msg == 'bad':
            raise ValueError('bad frame')
        self.seen.append(msg)

    def on_error(self, msg, exc):
        self.seen.append(f'error {msg}: {exc}')

    def on_replaced(self):
        self.replaced += 1


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.005)


def test_members_of_different_speeds_infer_the_same_frames_and_skip_the_same_ones():
    frames = LockstepFrames(key=lambda m: m)
    fast, slow = Recorder('fast', 0.01), Recorder('slow', 0.15)
    frames.join(fast.member())
    frames.join(slow.member())
    frames.offer(1)
    slow.started.wait(2)
    for msg in (2, 3, 4):  # arrive while frame 1 is inferred: only 4, the newest, is inferred next
        assert frames.offer(msg) is (msg != 2)
    wait_until(lambda: len(slow.seen) == 2)
    frames.stop()
    assert fast.seen == slow.seen == [1, 4]
    assert fast.replaced == slow.replaced == 2


def test_the_second_offer_of_a_frame_is_ignored_and_a_failing_member_does_not_stop_the_others():
    frames = LockstepFrames(key=lambda m: m)
    a, b = Recorder('a', 0.0), Recorder('b', 0.0)
    frames.join(a.member())
    frames.join(b.member())
    assert frames.offer('bad') is False
    assert frames.offer('bad') is False  # the other node's subscription delivers the same frame
    wait_until(lambda: len(a.seen) == 1 and len(b.seen) == 1)
    frames.offer('good')
    wait_until(lambda: len(a.seen) == 2 and len(b.seen) == 2)
    frames.stop()
    assert a.seen == b.seen == ['error bad: bad frame', 'good']


def test_a_member_that_leaves_during_a_frame_does_not_block_the_others():
    frames = LockstepFrames(key=lambda m: m)
    stays, goes = Recorder('stays', 0.0), Recorder('goes', 0.2)
    frames.join(stays.member())
    frames.join(goes.member())
    frames.offer(1)
    goes.started.wait(2)
    frames.leave('goes')  # returns after its frame in progress
    frames.offer(2)
    wait_until(lambda: stays.seen == [1, 2])
    frames.stop()
    assert goes.seen == [1]

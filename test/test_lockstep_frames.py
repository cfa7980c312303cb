"""LockstepFrames: every member infers the same frames, in parallel, and only the newest waiting frame."""

import threading
import time

from jdd_ros.ros.lockstep_frames import LockstepFrames, Member


class Recorder:
    def __init__(self, name, seconds, topic=None):
        self.name, self.seconds, self.seen, self.replaced = name, seconds, [], 0
        self.topic, self.feeds, self.received, self.lost = topic, 0, [], []
        self.started = threading.Event()

    def member(self):
        return Member(self.name, self.process, self.on_error, self.on_replaced, topic=self.topic,
                      feed=self.feed, on_received=self.received.append, on_lost=self.lost.append)

    def feed(self):
        self.feeds += 1

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


def test_one_member_per_topic_subscribes_and_every_member_of_the_topic_counts_the_frames_it_offers():
    frames = LockstepFrames(key=lambda m: m)
    detector, depth = Recorder('detector', 0.0, '/cam/image'), Recorder('depth', 0.0, '/cam/image')
    frames.join(detector.member())
    frames.join(depth.member())
    assert (detector.feeds, depth.feeds) == (1, 0)  # the camera is subscribed once, by the first member
    assert frames.feeder('/cam/image') == 'detector'
    frames.offer(1, '/cam/image', 'info 1')  # the feeder's subscription delivered frame 1
    frames.lost('/cam/image', 'lost event')
    wait_until(lambda: detector.seen == depth.seen == [1])
    assert detector.received == depth.received == ['info 1']
    assert detector.lost == depth.lost == ['lost event']
    frames.stop()


def test_when_the_feeder_leaves_another_member_of_its_topic_subscribes_and_frames_go_on():
    frames = LockstepFrames(key=lambda m: m)
    a, b = Recorder('a', 0.0, '/cam/image'), Recorder('b', 0.0, '/cam/image')
    other = Recorder('other', 0.0, '/remapped/image')  # a member whose input was remapped: its own subscription
    for r in (a, b, other):
        frames.join(r.member())
    assert (a.feeds, b.feeds, other.feeds) == (1, 0, 1)
    frames.leave('a')
    assert b.feeds == 1 and frames.feeder('/cam/image') == 'b'
    frames.offer(2, '/cam/image', 'info 2')
    wait_until(lambda: b.seen == other.seen == [2])
    assert b.received == ['info 2'] and other.received == [] and a.received == []
    frames.leave('b')
    assert frames.feeder('/cam/image') is None  # nobody left to feed it: no subscription
    frames.join(a.member())
    assert a.feeds == 2 and frames.feeder('/cam/image') == 'a'  # reactivated: it subscribes again
    frames.stop()


def test_once_stopped_no_member_is_told_to_take_over_the_subscription():
    frames = LockstepFrames(key=lambda m: m)
    a, b = Recorder('a', 0.0, '/cam/image'), Recorder('b', 0.0, '/cam/image')
    frames.join(a.member())
    frames.join(b.member())
    frames.stop()  # the process ends: the nodes' final statistics, then their lifecycle shutdown
    frames.leave('a')
    assert (a.feeds, b.feeds) == (1, 0)

"""NewestFrameWorker: a slow consumer sees the newest frames only, each once, in order; errors do not stop it."""

from __future__ import annotations

import threading
import time

from jdd_ros.ros.newest_frame import NewestFrameWorker


def test_a_fast_producer_is_never_queued():
    processed, errors = [], []
    done = threading.Event()

    def process(msg: int) -> None:
        time.sleep(0.03)  # slower than the producer below
        processed.append(msg)
        if msg == 49:
            done.set()

    worker = NewestFrameWorker(process, lambda m, e: errors.append((m, e)))
    try:
        for i in range(50):
            worker.offer(i)
            time.sleep(0.002)
        assert done.wait(5), 'the newest frame is always processed'
    finally:
        worker.stop()
    assert processed == sorted(set(processed)), 'each frame at most once, never an older one after a newer one'
    assert processed[-1] == 49
    assert len(processed) < 20, processed
    assert worker.received == 50
    assert worker.skipped == 50 - len(processed)
    assert errors == []


def test_errors_are_reported_and_the_worker_goes_on():
    seen, errors = [], []
    ok = threading.Event()

    def process(msg: str) -> None:
        if msg == 'bad':
            raise ValueError('bad frame')
        seen.append(msg)
        ok.set()

    worker = NewestFrameWorker(process, lambda m, e: errors.append((m, str(e))))
    try:
        assert worker.offer('bad') is False
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.offer('good')
        assert ok.wait(5)
    finally:
        worker.stop()
    assert errors == [('bad', 'bad frame')] and seen == ['good']


def test_stop_ends_the_thread_and_drops_the_waiting_frame():
    started, release, processed = threading.Event(), threading.Event(), []

    def process(msg: int) -> None:
        started.set()
        release.wait(5)
        processed.append(msg)

    worker = NewestFrameWorker(process, lambda m, e: None)
    worker.offer(1)
    assert started.wait(5)
    worker.offer(2)  # waits behind frame 1
    threading.Timer(0.1, release.set).start()
    worker.stop()
    assert processed == [1]
    assert not worker._thread.is_alive()

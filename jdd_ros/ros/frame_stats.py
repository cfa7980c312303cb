"""Counting, timing and logging the frames of a node that infers in a worker thread (depth_node, detector_node).

Frames arrive in the executor thread and are inferred in the worker thread (``NewestFrameWorker``); both update the
counts and the summary timer reads them, so every count is taken under one lock. Problems are logged throttled (a
flood of bad frames must not flood the log); the counts keep the totals and the periodic summary shows them.
"""

from __future__ import annotations

import threading
import time

from rclpy.event_handler import QoSMessageLostInfo
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from jdd_ros.core.log_throttle import ProblemThrottle
from jdd_ros.io.image_codec import ImageFormatError
from jdd_ros.ros.messages import stamp_ns

REFUSED_LOG_PERIOD_S = 1.0  # the same refused value (an encoding, a failure) is logged again only after this
MAX_PUBLISHERS = 64  # publishers come and go (restarted drivers, bag loops): their sequence numbers are forgotten


def _frame(header: Header) -> str:
    return f'frame {header.stamp.sec}.{header.stamp.nanosec:09d}'


class FrameStats:
    """The frames one node received, skipped, inferred or refused, and its mean inference and overhead time."""

    def __init__(self, logger: RcutilsLogger, topic: str):
        self._log = logger
        self.topic = topic
        self._lock = threading.Lock()
        # 'replaced': a newer frame arrived while this one waited for the worker; 'gaps': publication sequence numbers
        # that never arrived, either replaced in the keep-last reader queue or lost in transport ('lost', from the
        # middleware's message-lost events): counted apart so the log tells which.
        self._counts = {'received': 0, 'inferred': 0, 'replaced': 0, 'gaps': 0, 'lost': 0, 'bad': 0, 'failed': 0,
                        'stamp_backwards': 0}
        self._withheld: dict[str, int] = {}  # frames inferred but given no output, by cause (no floor in view...)
        self._last_withheld = ''
        self._infer_s = self._overhead_s = 0.0
        self._timed = 0
        self._reported = dict(self.counts)  # counts at the last summary
        self._last_seq: dict[bytes, int] = {}  # executor thread only
        self._last_stamp: int | None = None  # worker thread only
        self._refusals = ProblemThrottle(REFUSED_LOG_PERIOD_S)  # worker thread only

    @property
    def counts(self) -> dict[str, int]:
        """received, inferred, skipped (replaced before inference or in the reader queue), lost (in transport), bad,
        failed, stamp_backwards."""
        with self._lock:
            return self._derived()

    def _derived(self) -> dict[str, int]:
        c = self._counts
        skipped = c['replaced'] + max(0, c['gaps'] - c['lost'])
        return {'received': c['received'], 'inferred': c['inferred'], 'skipped': skipped, 'lost': c['lost'],
                'bad': c['bad'], 'failed': c['failed'], 'stamp_backwards': c['stamp_backwards']}

    def _add(self, name: str, n: int = 1) -> int:
        with self._lock:
            self._counts[name] += n
            return self._counts[name]

    def lost(self, event: QoSMessageLostInfo) -> None:
        """The middleware's message-lost event: samples that never reached the subscription (best-effort)."""
        n = self._add('lost', int(getattr(event, 'total_count_change', 0)))
        self._log.warning(f"frames lost in transport on '{self.topic}' ({n} so far): a best-effort publisher of "
                          'large images needs larger socket buffers or shared memory (README, QoS)',
                          throttle_duration_sec=10.0)

    def _skipped_in_queue(self, info: MessageInfo | None) -> int:
        """Frames the keep-last-1 reader queue replaced before the callback ran (it does so silently), from the
        publisher's sequence numbers in rclpy's MessageInfo; 0 where the middleware does not report them."""
        seq = info.get('publication_sequence_number') if isinstance(info, dict) else None
        gid = info.get('publisher_gid') if isinstance(info, dict) else None
        if not seq or gid is None:
            return 0
        key = bytes(gid.get('data', b'')) if isinstance(gid, dict) else bytes(gid)
        last = self._last_seq.get(key)
        if len(self._last_seq) > MAX_PUBLISHERS:
            self._last_seq.clear()
        self._last_seq[key] = seq
        return seq - last - 1 if last is not None and seq > last + 1 else 0

    def received(self, info: MessageInfo | None, replaced_waiting: bool) -> None:
        """One frame arrived (executor thread); ``replaced_waiting``: it replaced one the worker had not taken yet."""
        gaps = self._skipped_in_queue(info)
        with self._lock:
            self._counts['received'] += 1
            self._counts['gaps'] += gaps
            self._counts['replaced'] += int(replaced_waiting)
            total = self._derived()['skipped']
        if replaced_waiting or gaps:
            self._log.info(f'dropped a frame: a newer one arrived before inference started ({total} frame(s) '
                           'skipped so far; only the newest frame is inferred)', throttle_duration_sec=5.0)

    def replaced(self) -> None:
        """A frame this node received was replaced by a newer one before inference started (the one-process
        pipeline's shared frames, where ``received`` cannot tell)."""
        self._add('replaced')

    def check_stamp(self, header: Header) -> None:
        """Report a stamp older than the previous frame's (a looping bag, a restarted driver); the frame is still
        inferred: its result carries its own header, so nothing downstream is mixed up."""
        stamp = stamp_ns(header)
        if self._last_stamp is not None and stamp < self._last_stamp:
            n = self._add('stamp_backwards')
            self._log.warning(f'image stamp went backwards by {(self._last_stamp - stamp) / 1e9:.3f} s (bag looped or '
                              f'clock reset; {n} time(s) so far): inferring it anyway', throttle_duration_sec=5.0)
        self._last_stamp = stamp

    def inferred(self, infer_s: float, overhead_s: float) -> None:
        """One frame inferred and published (worker thread): network time and the node's own time around it."""
        with self._lock:
            self._counts['inferred'] += 1
            self._infer_s += infer_s
            self._overhead_s += overhead_s
            self._timed += 1

    @property
    def withheld_counts(self) -> dict[str, int]:
        """Frames inferred but published without output, by cause."""
        with self._lock:
            return dict(self._withheld)

    def withheld(self, msg: Image, cause: str, reason: str) -> None:
        """A frame that gets no output (worker thread): the model's output cannot be trusted or used for ``cause``
        (e.g. 'too little floor'); ``reason`` says what was found."""
        with self._lock:
            n = self._withheld[cause] = self._withheld.get(cause, 0) + 1
            new_cause, self._last_withheld = cause != self._last_withheld, cause
        text = f'{_frame(msg.header)}: no output ({cause}, {n} frame(s) so far): {reason}'
        if new_cause:  # a change of cause is always logged; the same cause again at most every 5 s
            self._log.warning(text)
        else:
            self._log.warning(text, throttle_duration_sec=5.0)

    def refused(self, msg: Image, exc: Exception) -> None:
        """An image the worker could not infer: bad input (ImageFormatError) or a failure of the model."""
        now = time.monotonic()
        if isinstance(exc, ImageFormatError):
            n = self._add('bad')
            if self._refusals.allow(f'bad image: {exc.cause}', str(exc), now):
                self._log.warning(f"bad image on '{self.topic}', {_frame(msg.header)} dropped: {exc} ({n} bad "
                                  'frame(s) so far)')
        else:
            n = self._add('failed')
            if self._refusals.allow(f'inference failed: {type(exc).__name__}', str(exc), now):
                self._log.error(f'{_frame(msg.header)}: inference failed on a {msg.width}x{msg.height} '
                                f'{msg.encoding} image ({n} so far): {type(exc).__name__}: {exc}')

    def summary(self, final: bool = False) -> str | None:
        """Counts since start and mean times per frame since the last summary; None when nothing changed (an idle
        node stays quiet), unless ``final``."""
        with self._lock:
            counts = {**self._derived(), **{f'withheld: {k}': v for k, v in self._withheld.items()}}
            if counts == self._reported and not final:
                return None
            self._reported = counts
            n, infer_s, overhead_s = self._timed, self._infer_s, self._overhead_s
            self._infer_s = self._overhead_s = 0.0
            self._timed = 0
        c = counts
        lost = f", {c['lost']} lost in transport" if c['lost'] else ''
        text = (f"{c['received']} frames received, {c['inferred']} inferred, {c['skipped']} skipped (a newer frame "
                f"arrived first){lost}, {c['bad']} bad, {c['failed']} failed, {c['stamp_backwards']} stamps backwards")
        withheld = [f'{v} {k[len("withheld: "):]}' for k, v in c.items() if k.startswith('withheld: ')]
        if withheld:
            text += f"; no output: {', '.join(withheld)}"
        if n:
            text += f'; per frame: inference {1000 * infer_s / n:.1f} ms, node overhead {1000 * overhead_s / n:.1f} ms'
        return text

    def log_summary(self, final: bool = False) -> None:
        text = self.summary(final)
        if text:
            self._log.info(('at shutdown: ' if final else '') + text)

"""FrameStats: the counts and log lines of the nodes that infer in a worker thread (depth_node, detector_node)."""

from types import SimpleNamespace

from jdd_ros.io.image_codec import ImageFormatError
from jdd_ros.ros.frame_stats import FrameStats


class RecordingLogger:
    def __init__(self):
        self.lines = []

    def _record(self, level, text, **_kwargs):
        self.lines.append((level, text))

    def info(self, text, **kwargs):
        self._record('info', text, **kwargs)

    def warning(self, text, **kwargs):
        self._record('warning', text, **kwargs)

    def error(self, text, **kwargs):
        self._record('error', text, **kwargs)


def header(sec, nanosec=0):
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec))


def image(hdr, encoding):
    return SimpleNamespace(header=hdr, width=640, height=480, encoding=encoding)


def info(seq, gid=b'camera'):
    return {'publication_sequence_number': seq, 'publisher_gid': {'data': gid}}


def test_frames_lost_in_the_reader_queue_or_replaced_before_inference_are_counted_and_logged():
    log = RecordingLogger()
    stats = FrameStats(log, '/image')
    stats.received(info(1), False)
    stats.received(info(2, b'other'), False)  # another publisher has its own sequence
    stats.received(info(4), False)  # 2 and 3 of 'camera' were replaced in the keep-last-1 queue
    stats.received(info(5), True)  # replaced the frame waiting for the worker
    stats.received({}, False)  # a middleware without sequence numbers
    assert stats.counts['received'] == 5 and stats.counts['skipped'] == 3
    assert log.lines[-1] == ('info', 'dropped a frame: a newer one arrived before inference started (3 frame(s) '
                                     'skipped so far; only the newest frame is inferred)')


def test_refused_frames_name_the_frame_and_the_reason_and_are_counted_apart():
    log = RecordingLogger()
    stats = FrameStats(log, '/cam/image')
    stats.refused(image(header(7, 5), '32FC1'), ImageFormatError("encoding '32FC1' is not a colour image"))
    stats.refused(image(header(8), 'rgb8'), RuntimeError('out of memory'))
    assert stats.counts['bad'] == 1 and stats.counts['failed'] == 1
    assert log.lines == [
        ('warning', "bad image on '/cam/image', frame 7.000000005 dropped: encoding '32FC1' is not a colour image "
                    '(1 bad frame(s) so far)'),
        ('error', 'frame 8.000000000: inference failed on a 640x480 rgb8 image (1 so far): RuntimeError: out of '
                  'memory'),
    ]


def test_stamps_going_backwards_are_reported_and_the_frame_still_counts():
    log = RecordingLogger()
    stats = FrameStats(log, '/image')
    stats.check_stamp(header(10))
    stats.check_stamp(header(10))  # the same stamp again is not backwards
    stats.check_stamp(header(8, 500_000_000))
    assert stats.counts['stamp_backwards'] == 1
    assert log.lines[-1][0] == 'warning' and 'went backwards by 1.500 s' in log.lines[-1][1]


def test_summary_gives_means_since_the_last_one_and_stays_quiet_when_nothing_happened():
    stats = FrameStats(RecordingLogger(), '/image')
    assert stats.summary() is None  # an idle node logs nothing
    stats.received({}, False)
    stats.inferred(0.020, 0.001)
    stats.received({}, True)
    stats.inferred(0.040, 0.003)
    assert stats.summary() == ('2 frames received, 2 inferred, 1 skipped (a newer frame arrived first), 0 bad, '
                               '0 failed, 0 stamps backwards; per frame: inference 30.0 ms, node overhead 2.0 ms')
    assert stats.summary() is None
    final = stats.summary(final=True)
    assert final.startswith('2 frames received') and 'per frame' not in final  # no frame since the last one
    stats.inferred(0.010, 0.0)
    assert stats.summary().endswith('inference 10.0 ms, node overhead 0.0 ms')



def test_frames_withheld_are_counted_by_cause_and_a_new_cause_is_always_logged():
    log = RecordingLogger()
    stats = FrameStats(log, '/image')
    stats.received({}, False)
    stats.withheld(image(header(3), 'rgb8'), 'too little floor', 'floor on 1 % of the image')
    stats.withheld(image(header(4), 'rgb8'), 'no camera_info yet', 'no usable camera_info')
    stats.withheld(image(header(5), 'rgb8'), 'too little floor', 'floor on 2 % of the image')
    assert stats.withheld_counts == {'too little floor': 2, 'no camera_info yet': 1}
    assert stats.counts['inferred'] == 0  # a frame without output was not published
    assert log.lines[0] == ('warning', 'frame 3.000000000: no output (too little floor, 1 frame(s) so far): floor on '
                                       '1 % of the image')
    assert log.lines[1][1].startswith('frame 4.000000000: no output (no camera_info yet, 1 frame(s)')
    assert 'no output: 2 too little floor, 1 no camera_info yet' in stats.summary()

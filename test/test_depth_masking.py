"""mask_then_detect's depth of a frame (ros/depth_masking) over real DDS in the test process: the frame and depth
stamps are matched by the one stamp matcher (exact, else the nearest within 50 ms once nothing nearer can come),
a late exact depth is waited for, and a frame without a depth near it gets none. The detector node that uses it is
tested in test_masking.py."""

import threading

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from jdd_ros.io.image_codec import fill_image
from jdd_ros.ros.depth_masking import DepthMaskFilter

MS = 1_000_000
T = 1_700_000_000 * 1_000_000_000


def header(stamp_ns):
    h = Header(frame_id='cam')
    h.stamp.sec, h.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return h


def depth(stamp_ns, metres):
    msg = fill_image(Image(), np.full((4, 4), metres, np.float32), '32FC1')
    msg.header = header(stamp_ns)
    return msg


def metres(msg):
    return float(np.frombuffer(msg.data, np.float32)[0])


@pytest.fixture(scope='module')
def rig(ros_peer):
    filt = DepthMaskFilter(ros_peer.node, 'reliable', wait_s=5.0, subscribe_now=True)
    pub = ros_peer.publisher(Image, 'depth')
    ros_peer.wait_for_subscribers(pub)
    yield filt, pub
    filt.close()


def test_an_rgbd_frame_gets_the_nearest_depth_not_the_first_within_the_gap(rig):
    filt, pub = rig
    pub.publish(depth(T - 30 * MS, 1.0))  # the previous depth frame: within 50 ms, but not the nearest
    pub.publish(depth(T + 3 * MS, 2.0))  # this instant's depth, stamped 3 ms after the colour frame
    assert metres(filt.depth_for(header(T))) == 2.0


def test_a_late_exact_depth_is_waited_for(rig):
    filt, pub = rig
    stamp = T + 1000 * MS
    pub.publish(depth(stamp - 33 * MS, 1.0))  # an earlier frame's depth: within the gap, but the exact one comes
    sender = threading.Timer(0.3, lambda: pub.publish(depth(stamp, 3.0)))
    sender.start()
    got = filt.depth_for(header(stamp))
    sender.join()
    assert metres(got) == 3.0
    assert metres(filt.depth_for(header(stamp))) == 3.0  # the same frame again: the same depth


def test_a_frame_without_depth_near_it_gets_none(rig):
    filt, pub = rig
    filt.wait_s = 0.3
    try:
        pub.publish(depth(T + 2000 * MS, 1.0))
        assert filt.depth_for(header(T + 2100 * MS)) is None  # 100 ms away: another instant
    finally:
        filt.wait_s = 5.0

"""4K frames (3840x2160 rgb8, 24.9 MB) from a bag-player-like publisher (reliable, keep-last 10) at 5 Hz reach
detector_node whole, with nothing exported: its input follows the reliable publisher, and every frame is accounted
for (received, inferred or skipped for a newer one, none lost in transport). docs/dds.md has the measurements behind
it, and the limit: a best-effort 4K publisher needs a configured sender."""

import re
import time

import cv2
from harness import NodeProcess, fixture, yolov4_tiny_files

FRAMES, RATE_HZ = 20, 5.0


def test_a_reliable_4k_stream_arrives_whole_and_every_frame_is_counted(domain_id, ros_peer):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image

    rgb = cv2.resize(cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB), (3840, 2160))
    msg = fill_image(Image(), rgb, 'rgb8')
    msg.header.frame_id = 'camera_4k'
    player_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
    with NodeProcess('detector_node', domain_id, params=yolov4_tiny_files(),
                     remap={'image': '/k4/image', 'detections': '/k4/detections'}) as node:
        pub = ros_peer.publisher(Image, '/k4/image', player_qos)
        inbox = ros_peer.subscribe(Detection2DArray, '/k4/detections')
        ros_peer.wait_for_subscribers(pub)
        node.wait_for_matched('/k4/image', timeout=60)
        ros_peer.wait_for_publishers('/k4/detections')
        next_due = time.monotonic()
        for i in range(FRAMES):
            msg.header.stamp.sec = 500 + i
            pub.publish(msg)
            next_due += 1.0 / RATE_HZ
            time.sleep(max(0.0, next_due - time.monotonic()))
        last = inbox.wait_for(1, 60, lambda m: m.header.stamp.sec == 500 + FRAMES - 1)[0]
        assert len(last.detections) > 0 and last.header.frame_id == 'camera_4k'
    summary = re.search(r'at shutdown: (\d+) frames received, (\d+) inferred, (\d+) skipped', node.output)
    assert summary, node.output
    received, inferred, skipped = map(int, summary.groups())
    # Every frame is accounted for: inferred, or skipped because a newer one arrived first (in the reader's queue or
    # before inference started, told apart from transport losses by the publisher's sequence numbers): none lost.
    assert inferred + skipped == FRAMES and received <= FRAMES, node.output
    assert not re.search(r'\d+ lost in transport', node.output), node.output
    assert "input '/k4/image': subscribed reliable" in node.output

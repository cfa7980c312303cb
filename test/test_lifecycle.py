"""The nodes are lifecycle nodes: a lifecycle manager (here the test, through the standard lifecycle services) drives
configure / activate / deactivate / cleanup over real DDS, and a node only works while active."""

import time

import pytest
from harness import NodeProcess

from jdd_ros.io.image_codec import fill_image


def _pair(depth_pub, det_pub, sec):
    import numpy as np
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    depth = fill_image(Image(), np.full((48, 64), 2.5, np.float32), '32FC1')
    dets = Detection2DArray()
    d = Detection2D()
    d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y = 32.0, 24.0, 20.0, 10.0
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = 'chair', 0.9
    d.results = [hyp]
    dets.detections = [d]
    for msg in (depth, dets):
        msg.header.stamp.sec, msg.header.frame_id = sec, 'cam'
    depth_pub.publish(depth)
    det_pub.publish(dets)


def test_a_managed_fusion_node_works_only_while_active(domain_id, ros_peer):
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    with NodeProcess('fusion_node', domain_id, params={'autostart': False},
                     remap={'depth': '/lc/depth', 'detections': '/lc/detections',
                            'detections_with_depth': '/lc/out'}) as node:
        state, transition = ros_peer.lifecycle('fusion_node')
        assert state() == 'unconfigured'
        depth_pub = ros_peer.publisher(Image, '/lc/depth')
        det_pub = ros_peer.publisher(Detection2DArray, '/lc/detections')
        inbox = ros_peer.subscribe(Detection2DArray, '/lc/out')
        assert transition('configure') and state() == 'inactive'
        assert ros_peer.node.count_subscribers('/lc/depth') == 0  # inputs are subscribed on activate only
        assert transition('activate') and state() == 'active'
        for pub in (depth_pub, det_pub):
            ros_peer.wait_for_subscribers(pub)
            node.wait_for_matched(pub.topic_name)
        ros_peer.wait_for_publishers('/lc/out')
        _pair(depth_pub, det_pub, 1)
        assert inbox.wait_for(1, 20)[0].detections[0].results[0].pose.pose.position.z == pytest.approx(2.5)

        assert transition('deactivate') and state() == 'inactive'
        deadline = time.monotonic() + 10
        while ros_peer.node.count_subscribers('/lc/depth') and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ros_peer.node.count_subscribers('/lc/depth') == 0, 'inactive: the inputs are unsubscribed'
        _pair(depth_pub, det_pub, 2)
        time.sleep(1.0)
        assert [m.header.stamp.sec for m in inbox.messages] == [1], 'an inactive node publishes nothing'

        assert transition('activate')  # new subscriptions: wait for their matches as for the first ones
        for topic in ('/lc/depth', '/lc/detections'):
            deadline = time.monotonic() + 20
            while node.output.count(f"input '{topic}': 1 publisher(s) matched") < 2:
                assert time.monotonic() < deadline, node.output
                time.sleep(0.05)
        _pair(depth_pub, det_pub, 3)
        assert inbox.wait_for(1, 20, lambda m: m.header.stamp.sec == 3)
        assert transition('deactivate') and transition('cleanup') and state() == 'unconfigured'
        assert node.proc.poll() is None, 'a managed node stays up between transitions'
    assert node.proc.returncode == 0, node.output


def test_a_failed_configure_is_reported_in_one_line_and_the_node_stays_unconfigured(domain_id, ros_peer):
    with NodeProcess('depth_node', domain_id, params={'autostart': False}) as node:  # no depth model
        state, transition = ros_peer.lifecycle('depth_node')
        assert not transition('configure')
        assert state() == 'unconfigured'
        line = node.wait_for_output(r'cannot configure: (.*)').group(1)
        assert 'needs a trained depth model' in line
        assert 'Traceback' not in node.output and node.proc.poll() is None
    assert node.proc.returncode == 0, node.output

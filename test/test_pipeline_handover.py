"""The one-process pipeline subscribes to each camera once (its detector node, or its depth node while the detector
node is inactive) and hands the frames to its other nodes in process. With ``--inprocess-depth`` it hands ``depth``
to its fusion node in process too:
over real DDS, the fused output arrives
(the image's header, distances read from the very depth image an outside subscriber gets) while the ROS graph shows
no fusion_node subscription on ``depth``; a fusion input remapped elsewhere
(``-r fusion_node:depth:=/other_depth``) is a DDS subscription again and fuses what is published there. Real
yolov4-tiny, the real TUM desk frame, a plumbing depth checkpoint."""

from __future__ import annotations

import signal
import time

import cv2
import numpy as np
import pytest
from harness import NodeProcess, fixture, reference_median, yolov4_tiny_files

pytestmark = pytest.mark.timeout(300)


def _box(det) -> tuple[float, float, float, float]:
    c, sx, sy = det.bbox.center.position, det.bbox.size_x, det.bbox.size_y
    return (c.x - sx / 2, c.y - sy / 2, c.x + sx / 2, c.y + sy / 2)


def _image(sec: int):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image

    from jdd_ros.io.image_codec import fill_image

    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    msg = fill_image(Image(), rgb, 'rgb8')
    msg.header.stamp, msg.header.frame_id = Time(sec=sec, nanosec=7), 'camera_optical'
    return msg


def _subscribers(peer, topic: str) -> set[str]:
    return {info.node_name for info in peer.node.get_subscriptions_info_by_topic(topic)}


def _wait_for_graph(peer, topic: str, node: str, timeout: float = 30.0) -> None:
    """Until ``node`` subscribes ``topic`` in the peer's view of the graph: the pipeline's nodes share one DDS
    participant, whose graph announcement then also holds every subscription its nodes made before."""
    deadline = time.monotonic() + timeout
    while node not in _subscribers(peer, topic):
        assert time.monotonic() < deadline, f'{node} does not subscribe {topic}: {_subscribers(peer, topic)}'
        time.sleep(0.05)


def _pipeline(domain_id, tmp_path, remap: dict[str, str] | None = None, handover: bool = True) -> NodeProcess:
    from depth_helpers import plumbing_checkpoint

    checkpoint = plumbing_checkpoint(tmp_path / 'plumbing.pt')
    params = {**yolov4_tiny_files(), 'checkpoint': str(checkpoint), 'reliability': 'reliable'}
    return NodeProcess('pipeline', domain_id, params=params, remap=remap,
                       args=['--inprocess-depth'] if handover else [])


def _wait_until_up(launch: NodeProcess, peer, image_pub) -> None:
    for node in ('detector_node', 'depth_node'):
        launch.wait_for_output(rf'\[{node}\]: .*waiting for images', timeout=120)
    launch.wait_for_matched('/image', node='detector_node', timeout=30)
    _wait_for_graph(peer, '/image', 'detector_node')
    peer.wait_for_publishers('/detections_with_depth')


def test_fusion_takes_depth_in_process_while_an_outside_subscriber_gets_it(domain_id, ros_peer, tmp_path):
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import image_to_numpy

    image = _image(41)
    image_pub = ros_peer.publisher(Image, '/image')
    depth_in = ros_peer.subscribe(Image, '/depth')
    detections_in = ros_peer.subscribe(Detection2DArray, '/detections')
    fused = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
    with _pipeline(domain_id, tmp_path) as launch:
        _wait_until_up(launch, ros_peer, image_pub)
        assert _subscribers(ros_peer, '/depth') == {ros_peer.node.get_name()}  # the outside one only
        assert _subscribers(ros_peer, '/image') == {'detector_node'}  # each camera frame delivered once
        assert 'fusion_node' in _subscribers(ros_peer, '/detections')  # the graph does show fusion_node's inputs
        image_pub.publish(image)
        depth = depth_in.wait_for(1, timeout=60)[0]
        detections = detections_in.wait_for(1, timeout=60)[0]
        out = fused.wait_for(1, timeout=60)[0]
        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    assert "[fusion_node]: in process (no DDS subscription): /depth, /image" in launch.output
    assert depth.header == image.header and detections.header == image.header and out.header == image.header
    assert [_box(d) for d in out.detections] == [_box(d) for d in detections.detections] != []
    own = image_to_numpy(depth)
    for det in out.detections:
        assert det.results[0].pose.pose.position.z == pytest.approx(reference_median(own, _box(det)), rel=1e-4)


def test_a_remapped_fusion_input_falls_back_to_dds_and_fuses_what_is_published_there(domain_id, ros_peer, tmp_path):
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image

    image = _image(43)
    rows, cols = np.mgrid[0:480, 0:640]
    other = (0.5 + 0.004 * cols + 0.002 * rows).astype(np.float32)  # not the depth network's: told apart below
    other_msg = fill_image(Image(), other, '32FC1')
    other_msg.header = image.header
    image_pub = ros_peer.publisher(Image, '/image')
    other_pub = ros_peer.publisher(Image, '/other_depth')
    depth_in = ros_peer.subscribe(Image, '/depth')
    fused = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
    with _pipeline(domain_id, tmp_path, remap={'fusion_node:depth': '/other_depth'}) as launch:
        _wait_until_up(launch, ros_peer, image_pub)
        _wait_for_graph(ros_peer, '/other_depth', 'fusion_node')
        assert 'fusion_node' not in _subscribers(ros_peer, '/depth')
        ros_peer.wait_for_subscribers(other_pub)
        launch.wait_for_matched('/other_depth', node='fusion_node', timeout=30)
        other_pub.publish(other_msg)
        image_pub.publish(image)
        depth = depth_in.wait_for(1, timeout=60)[0]  # the depth node still publishes its own
        out = fused.wait_for(1, timeout=60)[0]
        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    assert "[fusion_node]: in process (no DDS subscription): /image\n" in launch.output  # not /depth
    assert depth.header == image.header and out.header == image.header
    assert len(out.detections) > 0
    for det in out.detections:
        assert det.results[0].pose.pose.position.z == pytest.approx(reference_median(other, _box(det)), rel=1e-4)


def test_each_camera_hands_over_within_its_own_namespace(domain_id, ros_peer, tmp_path):
    from depth_helpers import plumbing_checkpoint
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import image_to_numpy

    checkpoint = plumbing_checkpoint(tmp_path / 'plumbing.pt')
    params = {**yolov4_tiny_files(), 'checkpoint': str(checkpoint), 'reliability': 'reliable'}
    cameras = ('front', 'left')
    pubs = {cam: ros_peer.publisher(Image, f'/{cam}/image') for cam in cameras}
    depth_in = {cam: ros_peer.subscribe(Image, f'/{cam}/depth') for cam in cameras}
    fused = {cam: ros_peer.subscribe(Detection2DArray, f'/{cam}/detections_with_depth') for cam in cameras}
    images = {'front': _image(51), 'left': _image(52)}
    args = ['--cameras', ','.join(cameras), '--inprocess-depth']
    with NodeProcess('pipeline', domain_id, params=params, args=args) as launch:
        for cam in cameras:
            for node in ('detector_node', 'depth_node'):
                launch.wait_for_output(rf'\[{cam}\.{node}\]: .*waiting for images', timeout=120)
            launch.wait_for_matched(f'/{cam}/image', node=f'{cam}.detector_node', timeout=30)
            ros_peer.wait_for_publishers(f'/{cam}/detections_with_depth')
        _wait_for_graph(ros_peer, '/left/image', 'detector_node')
        for cam in cameras:
            assert 'fusion_node' not in _subscribers(ros_peer, f'/{cam}/depth')
        for cam in cameras:
            pubs[cam].publish(images[cam])
        depth = {cam: depth_in[cam].wait_for(1, timeout=60)[0] for cam in cameras}
        out = {cam: fused[cam].wait_for(1, timeout=60)[0] for cam in cameras}
        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    for cam in cameras:
        assert f'[{cam}.fusion_node]: in process (no DDS subscription): /{cam}/depth, /{cam}/image' in launch.output
        assert out[cam].header == images[cam].header and len(out[cam].detections) > 0
        own = image_to_numpy(depth[cam])
        for det in out[cam].detections:
            assert det.results[0].pose.pose.position.z == pytest.approx(reference_median(own, _box(det)), rel=1e-4)


def test_the_depth_node_subscribes_while_the_detector_node_is_inactive_and_frames_go_on(domain_id, ros_peer,
                                                                                         tmp_path):
    """The camera is subscribed once, by the detector node; a lifecycle manager deactivates it: the depth node
    subscribes (the ROS graph shows it) and infers the next frames; the detector node reactivated infers them
    again, from the depth node's subscription, and they are fused."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    image_pub = ros_peer.publisher(Image, '/image')
    depth_in = ros_peer.subscribe(Image, '/depth')
    fused = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')

    def frame_out(inbox, sec):
        image_pub.publish(_image(sec))
        return inbox.wait_for(1, timeout=60, predicate=lambda m: m.header.stamp.sec == sec)[0]

    with _pipeline(domain_id, tmp_path, handover=False) as launch:
        _wait_until_up(launch, ros_peer, image_pub)
        assert _subscribers(ros_peer, '/image') == {'detector_node'}
        state, transition = ros_peer.lifecycle('detector_node')
        assert transition('deactivate') and state() == 'inactive'
        _wait_for_graph(ros_peer, '/image', 'depth_node')
        launch.wait_for_matched('/image', node='depth_node', timeout=30)
        assert frame_out(depth_in, 61).header == _image(61).header
        assert not [m for m in fused.messages if m.header.stamp.sec == 61]  # no detections: nothing fused

        assert transition('activate') and state() == 'active'
        assert _subscribers(ros_peer, '/image') == {'depth_node'}  # it keeps the subscription
        launch.wait_for_output(r"\[detector_node\]: infers the frames of '/image' that depth_node receives",
                               timeout=30)
        out = frame_out(fused, 62)
        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    assert out.header == _image(62).header and len(out.detections) > 0

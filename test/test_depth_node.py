"""depth_node in its own process on real DDS: refusal without a trained model, depth at the camera's size with the
camera's header, the colour view, run-time max_depth, bad input, and newest-frame-only inference."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from depth_helpers import plumbing_checkpoint, sample_image, untrained_checkpoint
from harness import NodeProcess
from rosbags.image import message_to_cvimage

from jdd_ros.depth.colorize import colorize_depth, legend_layout
from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.depth.model import trust_warnings
from jdd_ros.inference.backends import resolve_backend
from jdd_ros.io.image_codec import fill_image

torch.set_num_threads(1)
pytestmark = pytest.mark.timeout(180)


def _image(array: np.ndarray, encoding: str, sec: int, nanosec: int = 0, frame_id: str = 'camera_optical'):
    from sensor_msgs.msg import Image

    msg = fill_image(Image(), array, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    return msg


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return plumbing_checkpoint(tmp_path_factory.mktemp('node') / 'depth.pt', input_size=(64, 96))


def test_refuses_to_start_without_a_usable_model(domain_id, tmp_path):
    untrained = untrained_checkpoint(tmp_path / 'untrained.pt')
    text = tmp_path / 'notes.pt'
    text.write_text('not a checkpoint')
    cases = {
        'no model': ({}, 'jdd-ros train-depth'),
        'untrained': ({'checkpoint': str(untrained)}, 'UNTRAINED'),
        'missing file': ({'checkpoint': str(tmp_path / 'absent.pt')}, 'not found'),
        'not a checkpoint': ({'checkpoint': str(text)}, 'not a jdd_ros depth checkpoint'),
        'missing onnx': ({'onnx_model': str(tmp_path / 'absent.onnx')}, 'not found'),
    }
    nodes = {name: NodeProcess('depth_node', domain_id, params=p).start() for name, (p, _) in cases.items()}
    try:
        for name, (_, expected) in cases.items():
            node = nodes[name]
            assert node.proc.wait(90) == 2, f'{name}: exit status {node.proc.returncode}\n{node.output}'
            assert 'cannot start' in node.output and expected in node.output, f'{name}:\n{node.output}'
            assert 'Traceback' not in node.output, f'{name}:\n{node.output}'
    finally:
        for node in nodes.values():
            node.stop()


def test_publishes_metric_depth_at_camera_size_with_the_camera_header(domain_id, ros_peer, checkpoint):
    from sensor_msgs.msg import Image

    reference = DepthEstimator.from_checkpoint(checkpoint)
    depth_inbox = ros_peer.subscribe(Image, '/depth')
    colored_inbox = ros_peer.subscribe(Image, '/depth_colored')
    pub = ros_peer.publisher(Image, '/image')
    params = {'checkpoint': str(checkpoint), 'publish_colored': True, 'reliability': 'reliable'}
    with NodeProcess('depth_node', domain_id, params=params) as node:
        node.wait_for_output('subscribed to', timeout=60)
        assert 'plumbing-test' in node.output  # the log says which model runs
        assert 'verified against' in node.output and 'depth.pt.sha256' in node.output
        ros_peer.wait_for_subscribers(pub)
        ros_peer.wait_for_publishers('/depth')

        rgb = sample_image(100, 150)
        pub.publish(_image(rgb, 'rgb8', 1234, 5678))
        msg = depth_inbox.wait_for(1)[0]
        assert (msg.width, msg.height, msg.encoding) == (150, 100, '32FC1')
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (1234, 5678, 'camera_optical')
        depth = message_to_cvimage(msg)  # rosbags-image: an independent decoder
        np.testing.assert_allclose(depth, reference.predict(rgb), rtol=1e-4, atol=1e-5)

        colored = colored_inbox.wait_for(1)[0]
        assert (colored.width, colored.height, colored.encoding) == (150, 100, 'rgb8')
        assert colored.header.stamp.sec == 1234 and colored.header.frame_id == 'camera_optical'
        view = message_to_cvimage(colored)
        assert view.reshape(-1, 3).std(axis=0).max() > 10  # a colour map, not a flat image
        # max_depth unset: the fixed scale ends at the model's maximum depth (10 m), with the legend in metres.
        assert reference.meta.max_depth == 10.0
        np.testing.assert_array_equal(view, colorize_depth(depth, 10.0))
        assert legend_layout(150, 100, 10.0) is not None

        # bgr8 input: same depth once the channels are swapped back.
        pub.publish(_image(np.ascontiguousarray(rgb[:, :, ::-1]), 'bgr8', 1235))
        msg = depth_inbox.wait_for(1, predicate=lambda m: m.header.stamp.sec == 1235)[0]
        np.testing.assert_allclose(message_to_cvimage(msg), depth, rtol=1e-4, atol=1e-5)

        # max_depth at run time: farther pixels become NaN (invalid per REP 118).
        cut = float(np.median(depth))
        assert ros_peer.set_parameters('depth_node', {'max_depth': cut})[0].successful
        assert not ros_peer.set_parameters('depth_node', {'max_depth': -1.0})[0].successful
        pub.publish(_image(rgb, 'rgb8', 1236))
        msg = depth_inbox.wait_for(1, predicate=lambda m: m.header.stamp.sec == 1236)[0]
        cut_depth = message_to_cvimage(msg)
        assert np.isnan(cut_depth[depth > cut]).all() and np.isfinite(cut_depth[depth <= cut]).all()
        assert 0 < np.isnan(cut_depth).sum() < depth.size
        assert not ros_peer.set_parameters('depth_node', {'checkpoint': '/tmp/other.pt'})[0].successful

        # Bad input is logged and counted; the node keeps going.
        pub.publish(_image(np.zeros((10, 10), np.float32), '32FC1', 1237))
        node.wait_for_output(r"bad image.*'32FC1' is not a colour image", timeout=30)
        pub.publish(_image(rgb, 'rgb8', 1238))
        depth_inbox.wait_for(1, predicate=lambda m: m.header.stamp.sec == 1238)
        assert not any(m.header.stamp.sec == 1237 for m in depth_inbox.messages)
        assert node.proc.poll() is None


def test_only_the_newest_frame_is_inferred(domain_id, ros_peer, checkpoint):
    from sensor_msgs.msg import Image

    depth_inbox = ros_peer.subscribe(Image, '/burst/depth')
    pub = ros_peer.publisher(Image, '/burst/image')
    # A large network input in fp32 makes inference slower than the burst below: 256x352 was not enough where OpenVINO
    # runs bf16 on AMX (23 ms a frame) or int8 (auto for the U-Net on CPUs with VNNI/AMX: 10 ms), faster than the
    # 30 Hz burst, so nothing was dropped; 480x640 in fp32 takes several times that.
    params = {'checkpoint': str(checkpoint), 'reliability': 'reliable', 'input_height': 480, 'input_width': 640,
              'precision': 'fp32'}
    with NodeProcess('depth_node', domain_id, params=params, remap={'image': '/burst/image', 'depth': '/burst/depth'},
                     args=[]) as node:
        node.wait_for_output('subscribed to', timeout=60)
        ros_peer.wait_for_subscribers(pub)
        ros_peer.wait_for_publishers('/burst/depth')
        frame = sample_image(240, 320)
        sent = 20
        for i in range(sent):  # a 30 Hz camera, faster than the network at this input size
            pub.publish(_image(frame, 'rgb8', 2000 + i))
            time.sleep(1 / 30)
        depth_inbox.wait_for(1, predicate=lambda m: m.header.stamp.sec == 2000 + sent - 1, timeout=60)
        stamps = [m.header.stamp.sec for m in depth_inbox.messages]
        node.wait_for_output('dropped a frame', timeout=30)
        assert len(stamps) < sent, stamps  # no backlog worked through
        assert stamps == sorted(set(stamps)), stamps  # each frame at most once, in order
        assert all(m.width == 320 and m.height == 240 for m in depth_inbox.messages)


def test_onnx_model_and_synthetic_warning(domain_id, ros_peer, checkpoint, tmp_path):
    from sensor_msgs.msg import Image

    from jdd_ros.depth.onnx_export import export_checkpoint

    synthetic = plumbing_checkpoint(tmp_path / 'synthetic.pt', trained_on='synthetic')
    onnx_path, _ = export_checkpoint(synthetic, tmp_path / 'synthetic.onnx')
    depth_inbox = ros_peer.subscribe(Image, '/onnx/depth')
    pub = ros_peer.publisher(Image, '/onnx/image')
    params = {'onnx_model': str(onnx_path), 'reliability': 'reliable'}
    with NodeProcess('depth_node', domain_id, params=params,
                     remap={'image': '/onnx/image', 'depth': '/onnx/depth'}) as node:
        node.wait_for_output('subscribed to', timeout=60)
        choice = resolve_backend('auto', 'cpu')
        assert 'SYNTHETIC' in node.output
        warnings = trust_warnings(DepthEstimator.from_checkpoint(synthetic))  # what jdd-ros fuse/process print
        assert warnings and all(w in node.output for w in warnings)
        assert f'depth backend: {choice.backend} {choice.precision} on cpu ({choice.reason})' in node.output
        ros_peer.wait_for_subscribers(pub)
        ros_peer.wait_for_publishers('/onnx/depth')
        rgb = sample_image(90, 110)
        pub.publish(_image(rgb, 'rgb8', 3000, 1))
        msg = depth_inbox.wait_for(1)[0]
        assert (msg.width, msg.height, msg.header.stamp.nanosec) == (110, 90, 1)
        reference = DepthEstimator.from_checkpoint(synthetic, precision=choice.precision).predict(rgb)
        np.testing.assert_allclose(message_to_cvimage(msg), reference, rtol=1e-3, atol=1e-4)

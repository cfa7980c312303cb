"""Two cameras served by one pipeline process (``jdd-ros launch cameras:=front,left``) over real DDS: each camera's
outputs come from its own frame (its header, distances read from its own depth image), and the process loaded one
model per network for both cameras (real yolov4-tiny; a plumbing depth checkpoint, whose depth differs between the
two different images)."""

from __future__ import annotations

import re
import signal

import cv2
import numpy as np
import pytest
from harness import NodeProcess, fixture, reference_median, yolov4_tiny_files

CAMERAS = {'front': (31, 'front_optical'), 'left': (47, 'left_optical')}  # stamp sec, frame_id: told apart


def _box(det) -> tuple[float, float, float, float]:
    c, sx, sy = det.bbox.center.position, det.bbox.size_x, det.bbox.size_y
    return (c.x - sx / 2, c.y - sy / 2, c.x + sx / 2, c.y + sy / 2)


def _images() -> dict[str, np.ndarray]:
    """The real TUM desk frame for the front camera, the same frame mirrored for the left one (other pixels under
    every box, so the other camera's depth would give other distances)."""
    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    return {'front': rgb, 'left': np.ascontiguousarray(rgb[:, ::-1])}


def test_two_cameras_one_process_one_model_per_network_each_camera_its_own_outputs(domain_id, ros_peer, tmp_path):
    from builtin_interfaces.msg import Time
    from depth_helpers import plumbing_checkpoint
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image, image_to_numpy

    checkpoint = plumbing_checkpoint(tmp_path / 'plumbing.pt')
    args = ['launch', 'cameras:=front,left', f'depth_checkpoint:={checkpoint}', 'reliability:=reliable',
            *[f'{k}:={v}' for k, v in yolov4_tiny_files().items()]]
    images, pubs, depth_in, fused = {}, {}, {}, {}
    for cam, rgb in _images().items():
        images[cam] = fill_image(Image(), rgb, 'rgb8')
        images[cam].header.stamp, images[cam].header.frame_id = Time(sec=CAMERAS[cam][0], nanosec=9), CAMERAS[cam][1]
        pubs[cam] = ros_peer.publisher(Image, f'/{cam}/image')
        depth_in[cam] = ros_peer.subscribe(Image, f'/{cam}/depth')
        fused[cam] = ros_peer.subscribe(Detection2DArray, f'/{cam}/detections_with_depth')
    with NodeProcess('jdd-ros', domain_id, args=args) as launch:
        for cam in CAMERAS:
            for node in ('detector_node', 'depth_node'):
                launch.wait_for_output(rf'\[{cam}\.{node}\]: .*waiting for images', timeout=120)
            launch.wait_for_matched(f'/{cam}/image', node=f'{cam}.detector_node', timeout=30)
            # Each camera's frames are delivered once: its detector node subscribes, the others get them in process.
            ros_peer.wait_for_subscribers(pubs[cam], 1)
            assert ros_peer.node.count_subscribers(f'/{cam}/image') == 1
            ros_peer.wait_for_publishers(f'/{cam}/detections_with_depth')
        for cam in CAMERAS:
            pubs[cam].publish(images[cam])
        depth = {cam: depth_in[cam].wait_for(1, timeout=60)[0] for cam in CAMERAS}
        out = {cam: fused[cam].wait_for(1, timeout=60)[0] for cam in CAMERAS}
        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(30) == 0, launch.output
    log = launch.output
    assert re.findall(r'started (\w+) \(pid', log) == ['pipeline']  # one process
    # One model per network, loaded by the first camera's node and used by the other's.
    assert len(re.findall(r'\[\w+\.detector_node\]: loaded in', log)) == 1, log
    assert len(re.findall(r'\[\w+\.depth_node\]: depth model:', log)) == 1, log
    assert '[left.detector_node]: using the model /front/detector_node loaded' in log
    assert '[left.depth_node]: using the model /front/depth_node loaded' in log
    for cam in CAMERAS:
        assert depth[cam].header == images[cam].header and out[cam].header == images[cam].header
        assert len(out[cam].detections) > 0, cam
        own = image_to_numpy(depth[cam])
        for det in out[cam].detections:
            z = det.results[0].pose.pose.position.z
            assert z == pytest.approx(reference_median(own, _box(det)), rel=1e-4), (cam, _box(det))
    front, left = (image_to_numpy(depth[c]) for c in CAMERAS)
    assert not np.allclose(front, left, equal_nan=True)  # the check above tells the cameras apart

"""depth_node over real DDS with a model that takes its metric scale from the floor: a relative inverse-depth ONNX
model made here from the TUM desk frame's sensor depth (arbitrary scale and shift), camera_info from the test, the
camera's height, pitch and roll as parameters (from a floor plane fitted here to the sensor depth). Checked: no depth
before a usable camera_info (counted, logged), box distances within 5 % of the sensor, ``ros2 param set`` of the
geometry applies from the next frame, a frame without floor in view gets no depth and a WARN on /diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from diag_helpers import Statuses, describe, level, values
from floor_models import buffer_model, filled_depth, reference_floor
from harness import NodeProcess, reference_median, tum_desk_frame
from rosbags.image import message_to_cvimage
from test_box_depth import TUM_BOXES

from jdd_ros.io.image_codec import fill_image

pytestmark = pytest.mark.timeout(240)
K = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
WARN = 1


def _image(rgb: np.ndarray, sec: int):
    from sensor_msgs.msg import Image

    msg = fill_image(Image(), rgb, 'rgb8')
    msg.header.stamp.sec, msg.header.frame_id = sec, 'camera_optical'
    return msg


def test_depth_node_takes_metres_from_the_floor(domain_id, ros_peer, tmp_path):
    from sensor_msgs.msg import CameraInfo, Image

    frame = tum_desk_frame()
    sensor = np.nan_to_num(frame.depth_m)
    ref = reference_floor(sensor, 525.0, 525.0, 319.5, 239.5)
    model = buffer_model(tmp_path / 'relative.onnx', 37.0 / filled_depth(sensor) - 4.0,
                         {'output_kind': 'relative_inverse', 'alignment': 'ground', 'name': 'floor-test'})
    references = {name: reference_median(sensor, box) for name, box in TUM_BOXES.items()}
    statuses = Statuses(ros_peer)
    depth_inbox = ros_peer.subscribe(Image, '/depth')
    pub = ros_peer.publisher(Image, '/image')
    info_pub = ros_peer.publisher(CameraInfo, '/cam/info')
    params = {'onnx_model': str(model), 'reliability': 'reliable', 'camera_height': ref['height'],
              'camera_pitch': ref['pitch'], 'camera_roll': ref['roll']}
    with NodeProcess('depth_node', domain_id, params=params, remap={'camera_info': '/cam/info'}) as node:
        node.wait_for_output("the model needs the camera: subscribed to '/cam/info'", timeout=60)
        ros_peer.wait_for_subscribers(pub)
        ros_peer.wait_for_subscribers(info_pub)

        def frame_depth(sec: int) -> np.ndarray:
            pub.publish(_image(frame.rgb, sec))
            msg = depth_inbox.wait_for(1, predicate=lambda m: m.header.stamp.sec == sec, timeout=30)[-1]
            assert msg.header.frame_id == 'camera_optical' and (msg.width, msg.height) == (640, 480)
            return message_to_cvimage(msg)

        pub.publish(_image(frame.rgb, 1))  # no camera_info yet: no depth, counted
        node.wait_for_output(r'no output \(no camera_info yet, 1 frame', timeout=30)
        info_pub.publish(CameraInfo(width=640, height=480))  # uncalibrated (K all zeros): ignored
        node.wait_for_output('camera_info ignored: CameraInfo K is all zeros', timeout=30)
        info_pub.publish(CameraInfo(width=640, height=480, k=K))
        node.wait_for_output('camera_info: ', timeout=30)

        depth = frame_depth(2)
        errors = {name: reference_median(depth, box) / references[name] - 1 for name, box in TUM_BOXES.items()}
        print('\nover DDS: ' + ', '.join(f'{k} {100 * v:+.2f} %' for k, v in errors.items()))
        assert max(abs(e) for e in errors.values()) < 0.05, errors
        assert not any(m.header.stamp.sec == 1 for m in depth_inbox.messages)

        # The camera mounted 1.5x higher (ros2 param set): every distance 1.5x from the next frame on.
        assert ros_peer.set_parameters('depth_node', {'camera_height': 1.5 * ref['height']})[0].successful
        np.testing.assert_allclose(frame_depth(3), 1.5 * depth, rtol=1e-4)

        # Looking 40 degrees up: no floor in view, no depth; counted, logged and WARN on /diagnostics.
        since = statuses.mark()
        assert ros_peer.set_parameters('depth_node', {'camera_pitch': -40.0})[0].successful
        pub.publish(_image(frame.rgb, 4))
        node.wait_for_output(r'no output \(floor not in view, 1 frame', timeout=30)
        _, status = statuses.wait('depth_node', lambda s: level(s) == WARN and 'floor not in view' in s.message,
                                  since=since)
        shown = values(status)
        assert shown['frames without output (floor not in view)'] == '1', describe(status)
        assert shown['frames without output (no camera_info yet)'] == '1', describe(status)
        assert float(shown['floor fraction (%)']) > 5 and 'floor scale drift (%)' in shown, describe(status)
        assert shown['camera_info refused'] == '1', describe(status)
        assert shown['last frame without floor'] == 'floor not in view', describe(status)
        assert float(shown['its fraction below the horizon (%)']) < 5, describe(status)

        # Back to the true mounting: the first frame's distances again.
        assert ros_peer.set_parameters('depth_node', {'camera_pitch': ref['pitch'],
                                                      'camera_height': ref['height']})[0].successful
        np.testing.assert_allclose(frame_depth(5), depth, rtol=1e-4)
        assert not any(m.header.stamp.sec == 4 for m in depth_inbox.messages)
        assert node.proc.poll() is None
    assert 'no output: 1 no camera_info yet, 1 floor not in view' in node.output


def test_depth_node_metric_focal_model_follows_camera_info(domain_id, ros_peer, tmp_path):
    """Metres = raw x fx / 300 with fx from camera_info (scaled to the 320x240 network input); a camera_info with
    twice the focal length doubles every distance from the next frame."""
    import cv2
    from sensor_msgs.msg import CameraInfo, Image

    frame = tum_desk_frame()
    sensor = np.nan_to_num(frame.depth_m)
    buffer = cv2.resize(filled_depth(sensor), (320, 240), interpolation=cv2.INTER_AREA) * 300.0 / 262.5
    model = buffer_model(tmp_path / 'focal.onnx', buffer, {'output_kind': 'metric_focal', 'name': 'focal-test'})
    depth_inbox = ros_peer.subscribe(Image, '/focal/depth')
    pub = ros_peer.publisher(Image, '/focal/image')
    info_pub = ros_peer.publisher(CameraInfo, '/focal/camera_info')
    remap = {'image': '/focal/image', 'depth': '/focal/depth', 'camera_info': '/focal/camera_info'}
    with NodeProcess('depth_node', domain_id, params={'onnx_model': str(model), 'reliability': 'reliable'},
                     remap=remap) as node:
        node.wait_for_output('the model needs the camera', timeout=60)
        ros_peer.wait_for_subscribers(pub)
        ros_peer.wait_for_subscribers(info_pub)
        info_pub.publish(CameraInfo(width=640, height=480, k=K))
        node.wait_for_output('camera_info: ', timeout=30)
        pub.publish(_image(frame.rgb, 10))
        depth = message_to_cvimage(depth_inbox.wait_for(1, timeout=30)[-1])
        errors = {name: reference_median(depth, box) / reference_median(sensor, box) - 1
                  for name, box in TUM_BOXES.items()}
        assert max(abs(e) for e in errors.values()) < 0.05, errors
        info_pub.publish(CameraInfo(width=640, height=480, k=[1050.0, 0, 319.5, 0, 1050.0, 239.5, 0, 0, 1]))
        node.wait_for_output('camera_info: CameraIntrinsics.fx=1050', timeout=30)
        pub.publish(_image(frame.rgb, 11))
        msg = depth_inbox.wait_for(1, predicate=lambda m: m.header.stamp.sec == 11, timeout=30)[-1]
        np.testing.assert_allclose(message_to_cvimage(msg), 2 * depth, rtol=1e-4)


def test_launch_gives_the_depth_node_the_camera_info_topic():
    """jdd-ros launch / joint.launch.py: the depth node (alone or in the pipeline) reads the camera_info argument."""
    from jdd_ros import bringup

    given = {'depth_onnx': '/models/rel.onnx', 'camera_info': '/cam/info', 'camera_height': '1.2'}
    [depth] = [n for n in bringup.plan({**given, 'composition': 'false'}) if n.name == 'depth_node']
    assert ('camera_info', '/cam/info') in depth.remappings and depth.parameters['camera_height'] == 1.2
    [pipeline] = bringup.plan(given)
    assert ('camera_info', '/cam/info') in pipeline.remappings

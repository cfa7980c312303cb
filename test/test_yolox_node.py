"""detector_node with family:=yolox in its own process on real DDS: a YOLOX-shaped export (raw head, 80 classes, so
the COCO names), a real photo and the planted squares, detections compared with the in-process detector; and the
start-up refusals of this family (exit status 2, one 'cannot start' line, no traceback)."""

from __future__ import annotations

import cv2
import pytest
import yolox_models
from harness import FIXTURES, NodeProcess, detector_topics
from yolox_models import RED_BOX, build, square_image

from jdd_ros.inference.backends import resolve_backend

NODE = 'detector_node'
AUTO = resolve_backend('auto', 'cpu')  # openvino bf16 on CPUs with native bf16, else onnxruntime fp32


@pytest.fixture(scope='module')
def export(tmp_path_factory):
    return build(tmp_path_factory.mktemp('yolox') / 'yolox_tiny.onnx', 80)


@pytest.fixture(scope='module')
def node(export, domain_id):
    # Reliable input: one frame published once must arrive (best-effort delivery of large frames is not the point).
    proc = NodeProcess(NODE, domain_id, params={'family': 'yolox', 'weights': str(export), 'reliability': 'reliable',
                                                'confidence_threshold': 0.1}, OMP_NUM_THREADS='1')
    with proc:
        proc.wait_for_output(r'waiting for images', timeout=120)
        yield proc
    assert proc.proc.returncode == 0, proc.output


@pytest.fixture(scope='module')
def io(node, ros_peer):
    return detector_topics(ros_peer)


def image_msg(array, encoding: str, sec: int, frame_id: str):
    from sensor_msgs.msg import Image

    from jdd_ros.io.image_codec import fill_image

    msg = fill_image(Image(), array, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 5
    msg.header.frame_id = frame_id
    return msg


def test_start_up_log_says_raw_head_coco_names(node):
    assert (f'yolox_tiny.onnx: YOLOX raw head (from graph), strides 8/16/32, 80 classes (COCO names), input 320x320, '
            f'batch 1, {AUTO.backend} {AUTO.precision} on cpu') in node.output


def test_detections_of_published_frames_equal_the_in_process_detector(io, export):
    from jdd_ros.detect.yolox import YoloxDetector
    from jdd_ros.ros.messages import msg_to_detections

    pub, inbox = io
    expected_by_frame = YoloxDetector(export)  # the same backend and precision as the node ('auto')
    desk = cv2.imread(str(FIXTURES / 'tum_desk_color.png'))  # BGR: published as bgr8, as a camera driver may
    frames = {41: (desk, 'bgr8', cv2.cvtColor(desk, cv2.COLOR_BGR2RGB)), 42: (square_image(), 'rgb8', square_image())}
    for sec, (array, encoding, rgb) in frames.items():
        pub.publish(image_msg(array, encoding, sec, 'colour_camera'))
        msg = inbox.wait_for(1, 30, lambda m, sec=sec: m.header.stamp.sec == sec)[0]
        assert (msg.header.stamp.nanosec, msg.header.frame_id) == (5, 'colour_camera')
        got = msg_to_detections(msg)
        expected = expected_by_frame.detect(rgb, conf_threshold=0.1, nms_threshold=0.45)
        assert len(got) == len(expected) > 2

        def key(d):
            return (-round(d.score, 5), d.class_name, round(d.x1, 2), round(d.y1, 2))

        for g, e in zip(sorted(got, key=key), sorted(expected, key=key)):
            assert (g.class_name, g.score) == (e.class_name, pytest.approx(e.score, abs=1e-5))
            assert g.xyxy() == pytest.approx(e.xyxy(), abs=1e-3)
    # class 0 of COCO is 'person': the red square is found as one, at its place
    best = max((d for d in got if d.class_name == 'person'), key=lambda d: d.score)
    assert best.xyxy() == pytest.approx(list(RED_BOX), abs=1e-3) and best.score > 0.9


def test_family_parameter_describes_yolox(node, ros_peer):
    described = {d.name: d.description for d in ros_peer.describe_parameters(NODE, ['family', 'weights'])}
    assert "'yolox': YOLOX exported to ONNX by its tools/export_onnx.py" in described['family']
    assert "Family 'yolox' (required): path of the .onnx export" in described['weights']


@pytest.mark.parametrize('case', ['checkpoint', 'cannot tell', 'names count'])
def test_refusals_stop_the_node_with_one_line(export, tmp_path, domain_id, case):
    if case == 'checkpoint':
        params, reason = {'weights': str(tmp_path / 'yolox_s.pth')}, \
            "detector family 'yolox': weights " + str(tmp_path / 'yolox_s.pth') + ' is a PyTorch checkpoint'
    elif case == 'cannot tell':
        path = yolox_models.export(yolox_models.Clipped(yolox_models.TinyYolox(3, (320, 320))), tmp_path / 'c.onnx')
        params, reason = {'weights': str(path)}, f'{path}: cannot tell whether the output is decoded'
    else:
        names = tmp_path / 'two.names'
        names.write_text('a\nb\n')
        params, reason = {'names': str(names)}, f'{export}: 2 class names (names file two.names) but the output'
    with NodeProcess(NODE, domain_id, params={'family': 'yolox', 'weights': str(export), **params}) as proc:
        assert proc.proc.wait(60) == 2, proc.output
    lines = [line for line in proc.output.splitlines() if 'cannot start' in line]
    assert len(lines) == 1 and reason in lines[0], proc.output
    assert 'Traceback' not in proc.output, proc.output

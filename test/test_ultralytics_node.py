"""detector_node with family:=ultralytics in its own process on real DDS: a generated ONNX export with Ultralytics
metadata, a synthetic frame with coloured squares, detections compared with the in-process detector; and the
start-up refusals of this family (exit status 2, one 'cannot start' line, no traceback)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from harness import NodeProcess, detector_topics
from ultralytics_models import GREEN_BOX, RED_BOX, build_model, square_image, ultralytics_metadata

from jdd_ros.inference.backends import resolve_backend

NODE = 'detector_node'
AUTO = resolve_backend('auto', 'cpu')  # openvino bf16 on CPUs with native bf16, else onnxruntime fp32
RUNTIME = 'OpenVINO' if AUTO.backend == 'openvino' else 'ONNX Runtime'


@pytest.fixture(scope='module')
def export(tmp_path_factory):
    path = tmp_path_factory.mktemp('ultralytics') / 'colours_yolo11n.onnx'
    return build_model(path, 'v8', 3, metadata=ultralytics_metadata(3, (320, 320)))


@pytest.fixture(scope='module')
def node(export, domain_id):
    # Reliable input: one frame published once must arrive (best-effort delivery of large frames is not the point).
    proc = NodeProcess(NODE, domain_id, params={'family': 'ultralytics', 'weights': str(export),
                                                'reliability': 'reliable'}, OMP_NUM_THREADS='1')
    with proc:
        proc.wait_for_output(r'waiting for images', timeout=120)
        yield proc
    assert proc.proc.returncode == 0, proc.output


@pytest.fixture(scope='module')
def io(node, ros_peer):
    return detector_topics(ros_peer)


def image_msg(array: np.ndarray, encoding: str, sec: int, nanosec: int, frame_id: str):
    from sensor_msgs.msg import Image

    from jdd_ros.io.image_codec import fill_image

    msg = fill_image(Image(), array, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    return msg


def test_start_up_log_names_the_export_and_warns_it_is_not_pinned(node, export):
    assert (f'({AUTO.backend} {AUTO.precision} on cpu: {AUTO.reason}): colours_yolo11n.onnx: v8 layout (from '
            'metadata), 3 classes (metadata names), input 320x320, batch 1, '
            f'{AUTO.backend} {AUTO.precision} on cpu - Ultralytics YOLO11n') in node.output
    assert f'{export} is not checked against a checksum: set weights_sha256' in node.output


def test_detections_of_a_published_frame_with_the_header_copied(io, export):
    from jdd_ros.detect.ultralytics import UltralyticsDetector
    from jdd_ros.ros.messages import msg_to_detections

    pub, inbox = io
    rgb = square_image()
    pub.publish(image_msg(rgb, 'rgb8', 42, 123456789, 'colour_camera'))
    msg = inbox.wait_for(1, 30, lambda m: m.header.stamp.sec == 42)[0]
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (42, 123456789, 'colour_camera')
    assert all(d.header.frame_id == 'colour_camera' and d.header.stamp.nanosec == 123456789 for d in msg.detections)
    got = msg_to_detections(msg)
    for name, box in (('red', RED_BOX), ('green', GREEN_BOX)):  # names from the export's metadata
        best = max((d for d in got if d.class_name == name), key=lambda d: d.score)
        assert best.xyxy() == pytest.approx(list(box), abs=1e-6) and best.score > 0.9
    expected = UltralyticsDetector(export).detect(rgb, conf_threshold=0.25, nms_threshold=0.45)
    assert len(got) == len(expected) > 2

    def key(d):
        return (-round(d.score, 5), d.class_name, round(d.x1, 3), round(d.y1, 3))

    for g, e in zip(sorted(got, key=key), sorted(expected, key=key)):
        assert (g.class_name, g.score) == (e.class_name, pytest.approx(e.score, abs=1e-5))
        assert g.xyxy() == pytest.approx(e.xyxy(), abs=1e-3)


def test_parameter_descriptions_explain_the_family(node, ros_peer):
    described = {d.name: d.description for d in ros_peer.describe_parameters(NODE, ['weights', 'cfg', 'model'])}
    assert "Family 'ultralytics' (required): path of the .onnx export" in described['weights']
    assert "Must be empty for family 'ultralytics'" in described['cfg']
    assert "ignored when cfg is set and by family 'ultralytics'" in described['model']


def refusals(export, tmp_path):
    return {
        'torch backend': ({'backend': 'torch'}, "backend 'torch' is not available for detector family 'ultralytics'"),
        'cfg given': ({'cfg': str(tmp_path / 'yolov4.cfg')}, "detector family 'ultralytics' takes no cfg"),
        'missing file': ({'weights': str(tmp_path / 'absent.onnx')}, f'{tmp_path / "absent.onnx"}: no such model file'),
        'sha256 mismatch': ({'weights_sha256': 'ab' * 32},
                            f'{export}: sha256 {hashlib.sha256(export.read_bytes()).hexdigest()} does not match the '
                            f'expected sha256 ({"ab" * 32})'),
        'not an ONNX file': ({'weights': str(tmp_path / 'garbage.onnx')},
                             f'{tmp_path / "garbage.onnx"}: {RUNTIME} cannot load it as a model'),
    }


@pytest.mark.parametrize('case', ['torch backend', 'cfg given', 'missing file', 'sha256 mismatch',
                                  'not an ONNX file'])
def test_refusals_stop_the_node_with_one_line(export, tmp_path, domain_id, case):
    (tmp_path / 'garbage.onnx').write_bytes(b'<html>not a model</html>')
    values, reason = refusals(export, tmp_path)[case]
    params = {'family': 'ultralytics', 'weights': str(export), **values}
    with NodeProcess(NODE, domain_id, params=params) as proc:
        assert proc.proc.wait(60) == 2, proc.output
    lines = [line for line in proc.output.splitlines() if 'cannot start' in line]
    assert len(lines) == 1 and reason in lines[0], proc.output
    assert 'Traceback' not in proc.output, proc.output

"""The YOLOX family on tiny YOLOX-shaped exports built with torch (yolox_models.py): planted squares found exactly
where they are, detections on real photos equal to an independent reference written from YOLOX's formulas
(yolox_reference.py) for raw and decoded exports, ONNX Runtime and OpenVINO agreeing, class names, clear refusals,
and the family through the registry, the launch plan and ``jdd-ros detect``.

The decoding is compared exactly with the fp32 reference, so these detectors run in fp32 (``precision='fp32'``)."""

from __future__ import annotations

import hashlib
import json
import re

import cv2
import numpy as np
import pytest
import yolox_models
from harness import FIXTURES
from yolox_models import GREEN_BOX, RED_BOX, ChannelsFirst, Clipped, TinyYolox, build, class_names, square_image
from yolox_reference import Reference, decode, yolox_preproc

from jdd_ros.detect.coco import COCO_CLASSES
from jdd_ros.detect.yolox import YoloxDetector

INPUT = (320, 320)


def detector(path, **kwargs) -> YoloxDetector:
    return YoloxDetector(path, **{'precision': 'fp32', **kwargs})


@pytest.fixture(scope='module')
def models(tmp_path_factory) -> dict:
    """Exports by (kind, classes): 'raw' (the default export), 'decoded' (--decode_in_inference, dynamic batch)."""
    folder = tmp_path_factory.mktemp('yolox')
    return {(kind, nc): build(folder / f'yolox_{kind}_{nc}.onnx', nc, decode=kind == 'decoded',
                              dynamic_batch=kind == 'decoded')
            for kind in ('raw', 'decoded') for nc in (3, 80)}


def photos() -> list[np.ndarray]:
    """The TUM desk frame, a non-4:3 crop of it and a portrait resize (awkward letterbox ratios), and the squares."""
    desk = cv2.cvtColor(cv2.imread(str(FIXTURES / 'tum_desk_color.png')), cv2.COLOR_BGR2RGB)
    return [desk, np.ascontiguousarray(desk[90:390, 61:578]), cv2.resize(desk, (250, 413)), square_image()]


PHOTOS = photos()


def assert_same(ours, ref, names, box_tol=1e-3) -> None:
    """Same detections: classes, scores (to float32 resolution) and boxes, ours by score descending."""
    assert [d.score for d in ours] == sorted((d.score for d in ours), reverse=True)

    def key(d):
        return (-round(d.score, 6), d.class_id, round(d.x1, 2), round(d.y1, 2))

    ours, ref = sorted(ours, key=key), sorted(ref, key=key)
    assert len(ours) == len(ref), (len(ours), len(ref))
    for a, b in zip(ours, ref):
        assert a.class_id == b.class_id and a.class_name == names[b.class_id]
        assert a.score == pytest.approx(b.score, abs=1e-6)
        assert np.allclose([a.x1, a.y1, a.x2, a.y2], [b.x1, b.y1, b.x2, b.y2], atol=box_tol), (a, b)


def filters(names: list[str]) -> list:
    return [(0.25, 0.45, None), (0.05, 0.3, None), (0.5, 0.7, {names[0]}), (0.1, 0.45, {names[0], names[-1]})]


# ---------------------------------------------------------------------------------------------------------------
# What it finds


@pytest.mark.parametrize('kind', ['raw', 'decoded'])
def test_planted_squares_are_found_exactly_where_they_are(models, kind):
    det = detector(models[kind, 3], names=class_names(3))
    assert (det.decoded, det.strides, det.num_classes, det.input_size) == (kind == 'decoded', (8, 16, 32), 3, INPUT)
    found = det.detect(square_image(), conf_threshold=0.5)
    for name, box in (('red', RED_BOX), ('green', GREEN_BOX)):
        best = max((d for d in found if d.class_name == name), key=lambda d: d.score)
        assert best.xyxy() == pytest.approx(list(box), abs=1e-4) and best.score > 0.99
    assert not [d for d in found if d.class_name == 'blue']
    assert det.detect(np.full((480, 640, 3), 60, np.uint8), 0.25) == []  # grey: nothing


@pytest.mark.parametrize('nc', [3, 80])
@pytest.mark.parametrize('kind', ['raw', 'decoded'])
def test_matches_the_reference_on_real_photos(models, kind, nc):
    """Raw and decoded exports against the reference decoding of the raw export's output."""
    det = detector(models[kind, nc])
    ref = Reference(models['raw', nc], det.class_names, INPUT)
    total = 0
    for conf, iou, classes in filters(det.class_names):
        for image, ours in zip(PHOTOS, det.detect_batch(PHOTOS, conf, iou, classes)):
            # the graph's float32 decoding differs from the reference's float64 one by float32 rounding
            assert_same(ours, ref.detect(image, conf, iou, classes), det.class_names, 1e-3 if kind == 'raw' else 5e-3)
            total += len(ours)
    assert total > 50  # the photos do produce detections to compare


def test_the_graph_decodes_as_the_formulas_do(models):
    """--decode_in_inference's output equals the raw output decoded by YOLOX's formulas; objectness and class
    scores are the same numbers."""
    import onnxruntime as ort

    x = yolox_preproc(PHOTOS[0], INPUT)[0][None]
    raw, decoded = (ort.InferenceSession(str(models[k, 3]), providers=['CPUExecutionProvider'])
                    .run(None, {'images': x})[0][0] for k in ('raw', 'decoded'))
    assert raw.shape == decoded.shape == (2100, 8)
    assert np.abs(raw[:, :4] - decoded[:, :4]).max() > 1.0  # really different numbers
    assert np.allclose(decoded, decode(raw, INPUT), rtol=1e-5, atol=1e-4)


def test_preprocessing_is_yoloxs(models):
    """The network input is YOLOX's preproc: top-left, truncated size, grey 114, BGR 0-255."""
    from jdd_ros.detect.yolox.preprocess import preprocess

    for image in PHOTOS:
        batch, (box,) = preprocess([image], INPUT)
        expected, r, (nh, nw) = yolox_preproc(image, INPUT)
        assert np.array_equal(batch[0], expected) and batch.dtype == np.float32
        assert (box.top, box.left, box.new_height, box.new_width) == (0, 0, nh, nw)


def test_boxes_go_back_within_an_input_pixel_of_yoloxs_division_by_the_ratio():
    """The package maps boxes back by the exact inverse of the resize (the resized image's edge is the image's
    edge); YOLOX divides by the ratio. They differ only by the truncation of the resized size: less than one input
    pixel (1 / ratio image pixels)."""
    from jdd_ros.detect.letterbox import Letterbox

    for hw in ((480, 640), (300, 517), (413, 250), (1, 999)):
        box = Letterbox.top_left(hw, INPUT)
        r = min(INPUT[0] / hw[0], INPUT[1] / hw[1])
        net = np.array([[0.0, 0.0, box.new_width, box.new_height], [10.5, 20.25, 100.0, 90.0]])
        ours = box.to_original(net)
        upstream = (net / r).clip(0, [hw[1], hw[0], hw[1], hw[0]])
        assert np.abs(ours - upstream).max() < 1 / r
        assert ours[0].tolist() == [0.0, 0.0, hw[1], hw[0]]


@pytest.mark.parametrize('kind', ['raw', 'decoded'])
def test_openvino_agrees_with_onnxruntime(models, kind):
    ours = detector(models[kind, 80], backend='openvino')
    onnx_runtime = detector(models[kind, 80], backend='onnxruntime')
    assert (ours.backend, ours.precision, onnx_runtime.backend) == ('openvino', 'fp32', 'onnxruntime')
    total = 0
    for a, b in zip(ours.detect_batch(PHOTOS, 0.1, 0.45), onnx_runtime.detect_batch(PHOTOS, 0.1, 0.45)):
        assert_same(a, b, ours.class_names, 5e-3)
        total += len(a)
    assert total > 20


def test_batch_equals_single_images(models):
    for kind in ('raw', 'decoded'):  # fixed batch 1 (run image by image) and dynamic batch (one run)
        det = detector(models[kind, 3])
        batch = det.detect_batch(PHOTOS, 0.1, 0.45)
        assert [det.detect(image, 0.1, 0.45) for image in PHOTOS] == batch
        assert any(batch)


def test_class_filter_keeps_exactly_those_classes(models):
    det = detector(models['raw', 80])
    everything = det.detect(PHOTOS[0], 0.05)
    kept = {everything[0].class_name, everything[-1].class_name}
    assert det.detect(PHOTOS[0], 0.05, classes=kept) == [d for d in everything if d.class_name in kept]


# ---------------------------------------------------------------------------------------------------------------
# Class names and what decided the kind of export


def test_class_names_coco_for_80_given_or_generated(models, tmp_path):
    det = detector(models['raw', 80])
    assert det.class_names == list(COCO_CLASSES) and len(COCO_CLASSES) == 80
    assert '80 classes (COCO names)' in det.description
    assert detector(models['raw', 3]).class_names == ['class0', 'class1', 'class2']
    names = tmp_path / 'colours.names'
    names.write_text('rouge\nvert\nbleu\n')
    det = detector(models['raw', 3], names=str(names))
    assert det.class_names == ['rouge', 'vert', 'bleu'] and '3 classes (names file colours.names)' in det.description
    assert detector(models['raw', 3], names={0: 'a', 1: 'b', 2: 'c'}).class_names == ['a', 'b', 'c']


def test_description_says_what_was_loaded(models):
    text = detector(models['decoded', 3]).description
    assert text == ('yolox_decoded_3.onnx: YOLOX decoded head (from graph), strides 8/16/32, 3 classes (generated '
                    'names), input 320x320, batch dynamic, onnxruntime fp32 on cpu')
    assert 'YOLOX raw head (from graph)' in detector(models['raw', 3]).description
    assert 'batch 1,' in detector(models['raw', 3]).description


def test_p6_head_strides_from_the_row_count(tmp_path):
    path = build(tmp_path / 'p6.onnx', 3, input_hw=(384, 256), strides=(8, 16, 32, 64))
    det = detector(path)
    assert det.strides == (8, 16, 32, 64) and det.input_size == (384, 256)
    image = square_image(((yolox_models.RED, (64.0, 128.0, 128.0, 192.0)),), hw=(384, 256))
    best = max(det.detect(image, 0.5), key=lambda d: d.score)
    assert best.class_id == 0 and best.xyxy() == pytest.approx([64.0, 128.0, 128.0, 192.0], abs=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# Refusals


def test_refuses_a_graph_that_does_not_say_whether_it_decodes(tmp_path):
    path = yolox_models.export(Clipped(TinyYolox(3, INPUT)), tmp_path / 'clipped.onnx')
    with pytest.raises(ValueError, match=re.escape(f'{path}: cannot tell whether the output is decoded: between the '
                                                   'head and the output the graph computes Clip')) as info:
        detector(path)
    assert "export it with YOLOX's tools/export_onnx.py (with or without --decode_in_inference)" in str(info.value)
    det = detector(path, decoded=False)  # the Python API can say it
    assert 'YOLOX raw head (from decoded argument)' in det.description
    best = max(det.detect(square_image(), 0.5), key=lambda d: d.score)
    assert best.xyxy() == pytest.approx(list(RED_BOX), abs=1e-4)


@pytest.mark.parametrize('case', ['channels first', 'wrong strides'])
def test_refuses_outputs_that_are_not_a_yolox_head(tmp_path, case):
    if case == 'channels first':  # an Ultralytics v8-like layout
        path, shape = yolox_models.export(ChannelsFirst(TinyYolox(3, INPUT)), tmp_path / 'cf.onnx'), (1, 8, 2100)
    else:  # strides 8 and 16 only: 2000 rows
        path, shape = build(tmp_path / 's.onnx', 3, strides=(8, 16)), (1, 2000, 8)
    with pytest.raises(ValueError) as info:
        detector(path)
    assert str(info.value) == (
        f'{path}: output shape {shape} is not a YOLOX head at input 320x320: expected (N, 2100, 5 + classes) for '
        'strides 8/16/32 or (N, 2125, 5 + classes) for strides 8/16/32/64, each row cx, cy, w, h, objectness, '
        "class scores (Ultralytics and YOLOv5 exports: family 'ultralytics')")


def test_refuses_class_names_whose_count_differs(models, tmp_path):
    names = tmp_path / 'two.names'
    names.write_text('a\nb\n')
    with pytest.raises(ValueError, match=re.escape(f"{models['raw', 3]}: 2 class names (names file two.names) but "
                                                   'the output (-1, 2100, 8) has 3 classes')):
        detector(models['raw', 3], names=str(names))
    with pytest.raises(FileNotFoundError, match='names file .*absent.names does not exist'):
        detector(models['raw', 3], names=str(tmp_path / 'absent.names'))


def test_refuses_bad_files_and_arguments(models, tmp_path):
    path = models['raw', 3]
    garbage = tmp_path / 'garbage.onnx'
    garbage.write_bytes(b'<html>not a model</html>')
    with pytest.raises(ValueError, match=re.escape(f"{garbage}: ONNX Runtime cannot load it as a model")):
        detector(garbage, backend='onnxruntime')
    with pytest.raises(FileNotFoundError, match='no such model file'):
        detector(tmp_path / 'absent.onnx')
    with pytest.raises(ValueError, match='does not match the expected sha256'):
        detector(path, sha256='ab' * 32)
    assert detector(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest()).sha256 == \
        hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="backend 'torch' is not available for detector family 'yolox'"):
        detector(path, backend='torch')
    with pytest.raises(ValueError, match='the model input is fixed at 320x320; input_size 416x416 differs'):
        detector(path, input_size=416)
    with pytest.raises(ValueError, match='decoded must be None'):
        detector(path, decoded='yes')


# ---------------------------------------------------------------------------------------------------------------
# The family in the package: registry, launch plan, jdd-ros detect


def detector_params(**values):
    from jdd_ros.params import snapshot

    return snapshot('detector_node', {'family': 'yolox', 'precision': 'fp32', **values})


def test_registry_builds_the_family_from_node_parameters(models, tmp_path):
    from jdd_ros.detect.registry import FAMILIES, build_detector

    assert 'YOLOX' in FAMILIES['yolox'].summary
    path = models['raw', 80]
    det = build_detector(detector_params(weights=str(path)))
    assert isinstance(det, YoloxDetector)
    assert (det.class_names[:3], det.input_size, det.backend, det.decoded) == (['person', 'bicycle', 'car'], INPUT,
                                                                             'onnxruntime', False)
    names = tmp_path / 'colours.names'
    names.write_text('rouge\nvert\nbleu\n')
    det = build_detector(detector_params(weights=str(models['decoded', 3]), names=str(names), input_size=320,
                                         weights_sha256=hashlib.sha256(models['decoded', 3].read_bytes()).hexdigest()))
    assert det.detect(square_image(), 0.5, classes=['rouge'])[0].xyxy() == pytest.approx(list(RED_BOX), abs=1e-4)


@pytest.mark.parametrize('values, reason', [
    ({}, "detector family 'yolox' needs weights: the path of the model's ONNX export"),
    ({'weights': 'm.onnx', 'cfg': 'yolov4.cfg'}, "detector family 'yolox' takes no cfg"),
    ({'weights': 'm.onnx', 'backend': 'torch'}, "backend 'torch' is not available for detector family 'yolox'"),
    ({'weights': 'yolox_s.pth'}, 'a PyTorch checkpoint: export it to ONNX first (YOLOX: python tools/export_onnx.py'),
    ({'weights': 'yolox_s.engine'}, 'a TensorRT engine: give the ONNX export it was built from'),
    ({'weights': 'yolox.weights'}, "Darknet weights: use family 'darknet'"),
])
def test_parameters_this_family_cannot_use_are_refused_before_loading(values, reason):
    from jdd_ros.detect.registry import build_detector, check_detector_params

    params = detector_params(**values)
    assert reason in check_detector_params(params)
    with pytest.raises(ValueError, match=re.escape(reason)):
        build_detector(params)


def test_darknet_family_points_an_onnx_file_to_the_export_families():
    from jdd_ros.detect.registry import check_detector_params
    from jdd_ros.params import snapshot

    reason = check_detector_params(snapshot('detector_node', {'weights': '/models/yolox_s.onnx'}))
    assert "is an ONNX file, not Darknet weights" in reason and "by YOLOX set family to 'yolox'" in reason


def test_launch_plan_and_parameter_accept_the_family():
    from jdd_ros import bringup
    from jdd_ros.params import load_params_file, spec

    assert 'yolox' in spec('detector_node', 'family').choices
    file_params = load_params_file(bringup.default_params_file())
    nodes = {n.name: n for n in bringup.plan({'family': 'yolox', 'weights': '/models/yolox_s.onnx',
                                               'depth_source': 'sensor', 'composition': 'false'}, file_params)}
    assert (nodes['detector_node'].parameters['family'], nodes['detector_node'].parameters['weights']) == \
        ('yolox', '/models/yolox_s.onnx')
    with pytest.raises(ValueError, match="detector family 'yolox' needs weights"):
        bringup.plan({'family': 'yolox', 'depth_source': 'sensor'}, file_params)


def test_jdd_ros_detect_on_the_fixture_photo_equals_the_reference(models, tmp_path, capsys):
    from jdd_ros import cli

    photo = FIXTURES / 'tum_desk_color.png'
    out = tmp_path / 'det.json'
    argv = ['detect', '--family', 'yolox', '--weights', str(models['raw', 80]), str(photo), '--json', str(out),
            '--confidence-threshold', '0.1', '--precision', 'fp32']
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert 'YOLOX raw head (from graph), strides 8/16/32, 80 classes (COCO names)' in capsys.readouterr().err
    (record,) = json.loads(out.read_text())
    got = record['detections']
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    expected = Reference(models['raw', 80], list(COCO_CLASSES), INPUT).detect(rgb, 0.1, 0.45)
    assert len(got) == len(expected) > 3

    def key(d):
        return (-round(d['score'], 6), d['class_id'], *(round(v, 2) for v in d['bbox_xyxy'][:2]))

    expected = [{'score': e.score, 'class_id': e.class_id, 'bbox_xyxy': [e.x1, e.y1, e.x2, e.y2]} for e in expected]
    for g, e in zip(sorted(got, key=key), sorted(expected, key=key)):
        assert (g['class_id'], g['class_name']) == (e['class_id'], COCO_CLASSES[e['class_id']])
        assert g['score'] == pytest.approx(e['score'], abs=1e-6)
        assert g['bbox_xyxy'] == pytest.approx(e['bbox_xyxy'], abs=0.006)


def test_jdd_ros_detect_refuses_what_the_family_cannot_use(models, tmp_path, capsys):
    from jdd_ros import cli

    argv = ['detect', '--family', 'yolox', '--weights', 'yolox_s.pth', str(FIXTURES / 'tum_desk_color.png')]
    assert cli.main(argv) == 2
    assert "detector family 'yolox': weights yolox_s.pth is a PyTorch checkpoint" in capsys.readouterr().err


"""Monodepth2-style depth models (``output_kind: sigmoid_disparity``): ONNX models made here whose last layer is a
real Sigmoid, fed the logit of the disparity that the real TUM desk frame's sensor depth has under the Monodepth2
convention (depth = 1 / (1/max_depth + (1/min_depth - 1/max_depth) x disp), computed in this file), so the metres
each path gives are known: metric with a stereo factor (output_scale 5.4), relative with the scale from the floor
(the frame's camera geometry from a floor plane fitted to the sensor depth) or from a sparse reference, through
DepthEstimator, ``jdd-ros fuse`` with real yolov4-tiny detections, and depth_node over DDS. Refused: sidecars that
cannot describe such a model, and an output outside [0, 1] (a model exported without its sigmoid)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from floor_models import buffer_model, filled_depth, reference_floor
from harness import NodeProcess, fixture, reference_median, tum_desk_frame
from rosbags.image import message_to_cvimage
from test_box_depth import TUM_BOXES

from jdd_ros.cli import main
from jdd_ros.core.ground import GroundGeometry
from jdd_ros.depth import estimator, sidecar
from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.depth.evaluate import _predict
from jdd_ros.depth.model import build_depth_model
from jdd_ros.depth.sidecar import SidecarError, parse_sidecar
from jdd_ros.io.frames import KINECT_640x480
from jdd_ros.io.image_codec import fill_image
from jdd_ros.params import snapshot

pytestmark = pytest.mark.timeout(240)
MIN_DEPTH, MAX_DEPTH = 0.1, 100.0  # Monodepth2's training range
STEREO = 5.4  # Monodepth2's STEREO_SCALE_FACTOR (KITTI stereo)
RELATIVE = 3.7  # a mono model's unknown scale: its depth is the true depth / RELATIVE
PLAIN = {'mean': [0, 0, 0], 'std': [1, 1, 1]}


def disparity_of(depth_model_units: np.ndarray) -> np.ndarray:
    """The sigmoid disparity a Monodepth2 network outputs for this depth (in its own units)."""
    lo, hi = 1.0 / MAX_DEPTH, 1.0 / MIN_DEPTH
    return (1.0 / depth_model_units - lo) / (hi - lo)


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


@pytest.fixture(scope='module')
def desk():
    frame = tum_desk_frame()
    sensor = np.nan_to_num(frame.depth_m)
    truth = filled_depth(sensor)
    ref = reference_floor(sensor, 525.0, 525.0, 319.5, 239.5)
    references = {name: reference_median(sensor, box) for name, box in TUM_BOXES.items()}
    return frame, sensor, truth, GroundGeometry(ref['height'], ref['pitch'], ref['roll']), references


def sigmoid_model(path, truth: np.ndarray, factor: float, keys: dict, activation: str = 'Sigmoid'):
    """A model whose Sigmoid outputs the disparity of ``truth / factor`` (the logits are its last layer's input)."""
    disp = disparity_of(truth / factor)
    assert 0 < disp.min() and disp.max() < 1
    keys = {'output_kind': 'sigmoid_disparity', 'min_depth': MIN_DEPTH, 'max_depth': MAX_DEPTH, **PLAIN, **keys}
    return buffer_model(path, logit(disp).astype(np.float32), keys, activation)


def _box_errors(depth: np.ndarray, references: dict) -> dict[str, float]:
    return {name: reference_median(depth, TUM_BOXES[name]) / ref - 1 for name, ref in references.items()}


# ------------------------------------------------------------------------------------------------------ the sidecar
GOOD = {'input_size': [64, 96], 'output_kind': 'sigmoid_disparity', 'min_depth': 0.1, 'max_depth': 100}


@pytest.mark.parametrize('change, message', [
    ({'min_depth': None}, 'needs min_depth: the depth range it was trained with'),
    ({'min_depth': None, 'max_depth': None}, 'needs min_depth and max_depth'),
    ({'min_depth': 100}, 'min_depth 100.0 must be below max_depth 100.0'),
    ({'min_depth': 20, 'max_depth': 10}, 'min_depth 20.0 must be below max_depth 10.0'),
    ({'min_depth': 0}, 'needs min_depth and max_depth > 0'),
    ({'max_depth': 0}, 'needs min_depth and max_depth > 0'),
    ({'output_scale': 5.4, 'output_shift': 0.1}, 'output_shift does not apply to sigmoid_disparity'),
    ({'output_scale': -5.4}, 'metric factor and must be > 0'),
    ({}, 'without output_scale gives depth up to scale only'),
    ({'output_scale': 5.4, 'alignment': 'reference'}, 'output_scale 5.4 would be ignored'),
])
def test_sidecars_that_cannot_describe_a_sigmoid_disparity_model_are_refused(change, message):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(SidecarError, match=message) as err:
        parse_sidecar(data, 'm.yaml')
    assert str(err.value).startswith('m.yaml: ') and '\n' not in str(err.value)


def test_the_valid_combinations_with_alignment():
    metric = parse_sidecar({**GOOD, 'output_scale': 5.4})
    assert metric.is_metric_without_reference and not metric.needs_camera
    relative_floor = parse_sidecar({**GOOD, 'alignment': 'ground'})
    assert relative_floor.output_scale is None and relative_floor.needs_camera
    metric_floor = parse_sidecar({**GOOD, 'output_scale': 5.4, 'alignment': 'ground'})
    assert metric_floor.needs_camera and metric_floor.output_scale == 5.4
    relative_reference = parse_sidecar({**GOOD, 'alignment': 'reference'})
    assert not relative_reference.is_metric_without_reference and not relative_reference.needs_camera


def test_every_output_kind_is_validated_and_converted():
    """The two places a new output kind needs code (docs/architecture.md, "Add a depth model")."""
    assert set(sidecar.OUTPUT_KINDS) == set(sidecar.KIND_CHECKS) == set(estimator.OUTPUT_KINDS)


# ---------------------------------------------------------------------------------------------------- the metres
def test_metric_model_gives_the_true_metres(desk, tmp_path):
    """output_scale 5.4: metres = 5.4 x the disparity's depth, pixel for pixel (fp32) and at the boxes (auto)."""
    frame, _, truth, _, references = desk
    path = sigmoid_model(tmp_path / 'stereo.onnx', truth, STEREO, {'output_scale': STEREO})
    exact = DepthEstimator.from_onnx(path, precision='fp32', backend='onnxruntime').predict(frame.rgb)
    np.testing.assert_allclose(exact, truth, rtol=1e-4)
    depth = DepthEstimator.from_onnx(path).predict(frame.rgb)  # auto: bf16 where the CPU computes it
    errors = _box_errors(depth, references)
    assert max(abs(e) for e in errors.values()) < 0.05, errors
    # The same network read without the stereo factor is 5.4x off: the factor is what makes it metric.
    path = sigmoid_model(tmp_path / 'no_factor.onnx', truth, STEREO, {'output_scale': 1.0})
    np.testing.assert_allclose(DepthEstimator.from_onnx(path, precision='fp32').predict(frame.rgb), truth / STEREO,
                               rtol=1e-4)


def test_smaller_network_output_is_converted_then_resized(desk, tmp_path):
    import cv2

    frame, _, truth, _, references = desk
    small = cv2.resize(truth, (320, 240), interpolation=cv2.INTER_AREA)
    path = sigmoid_model(tmp_path / 'small.onnx', small, STEREO, {'output_scale': STEREO})
    depth = DepthEstimator.from_onnx(path, precision='fp32').predict(frame.rgb)
    assert depth.shape == (480, 640)
    np.testing.assert_allclose(depth, cv2.resize(small, (640, 480), interpolation=cv2.INTER_LINEAR), rtol=1e-4)
    errors = _box_errors(depth, references)
    assert max(abs(e) for e in errors.values()) < 0.05, errors


def test_relative_model_takes_its_scale_from_the_floor(desk, tmp_path):
    frame, _, truth, geometry, references = desk
    path = sigmoid_model(tmp_path / 'mono.onnx', truth, RELATIVE, {'alignment': 'ground'})
    est = DepthEstimator.from_onnx(path)
    aligner = est.floor_aligner()
    assert aligner is not None and aligner.kind == 'metric'  # one scale: the disparity's depth is right up to it
    raw = est.run_network(est.preprocess(frame.rgb)[None])[0]
    depth, applied = est.postprocess_camera(raw, frame.rgb.shape[:2], KINECT_640x480, geometry, aligner, 0.0)
    errors = _box_errors(depth, references)
    print('\nsigmoid disparity, scale from the floor: ' + ', '.join(f'{k} {100 * v:+.2f} %' for k, v in errors.items())
          + f'; scale {applied.scale:.3f} (true {RELATIVE})')
    assert applied.scale == pytest.approx(RELATIVE, rel=0.03) and applied.shift == 0.0
    assert max(abs(e) for e in errors.values()) < 0.05, errors
    with pytest.raises(ValueError, match='needs the camera'):  # no camera in this call: refused, not relative depth
        build_depth_model(snapshot('depth_node', {'onnx_model': str(path)}))


def test_relative_model_fitted_to_a_sparse_reference(desk, tmp_path):
    """alignment reference: one scale (median ratio), which written as output_scale makes the model metric."""
    frame, sensor, truth, _, _ = desk
    path = sigmoid_model(tmp_path / 'mono.onnx', truth, RELATIVE, {'alignment': 'reference'})
    est = DepthEstimator.from_onnx(path, precision='fp32')
    sparse = np.zeros_like(sensor)
    sparse[::20, ::20] = sensor[::20, ::20]  # a few hundred points, as from a LiDAR
    depth, scale, shift = est.predict_aligned(frame.rgb, sparse)
    assert scale == pytest.approx(RELATIVE, rel=0.01) and shift == 0.0
    np.testing.assert_allclose(depth, truth * scale / RELATIVE, rtol=1e-4)
    with pytest.raises(RuntimeError, match='predict_aligned'):
        est.predict(frame.rgb)
    with pytest.raises(ValueError, match=r'calibrate its scale once \(output_scale'):
        build_depth_model(snapshot('depth_node', {'onnx_model': str(path)}))
    # Median scaling (jdd-ros eval-depth --median-scaling) reads the disparity's depth, right up to that scale.
    up_to_scale = _predict(est, frame.rgb, median_scaling=True)
    np.testing.assert_allclose(up_to_scale, truth / RELATIVE, rtol=1e-4)


def test_output_outside_0_1_is_refused_not_read_as_depth(desk, tmp_path):
    """The same network exported without its sigmoid outputs logits: every frame refused with one line."""
    frame, _, truth, _, _ = desk
    path = sigmoid_model(tmp_path / 'logits.onnx', truth, STEREO, {'output_scale': STEREO}, activation='')
    est = DepthEstimator.from_onnx(path)
    with pytest.raises(ValueError, match=r'outside \[0, 1\]: not a sigmoid disparity') as err:
        est.predict(frame.rgb)
    assert '\n' not in str(err.value)


def test_jdd_ros_fuse_gives_metres_with_both_scales(desk, tmp_path, capsys):
    """``jdd-ros fuse`` with real yolov4-tiny on the TUM frame: the stereo model's chair distances, and the relative
    model's with --camera-info and the --camera-* mounting, within 5 % of the sensor's medians."""
    frame, sensor, truth, _, _ = desk
    ref = reference_floor(sensor, 525.0, 525.0, 319.5, 239.5)
    stereo = sigmoid_model(tmp_path / 'stereo.onnx', truth, STEREO, {'output_scale': STEREO})
    mono = sigmoid_model(tmp_path / 'mono.onnx', truth, RELATIVE, {'alignment': 'ground'})
    camera = ['--camera-info', str(fixture('tum_desk_camera_info.yaml')), '--camera-height', f"{ref['height']:.4f}",
              '--camera-pitch', f"{ref['pitch']:.3f}", '--camera-roll', f"{ref['roll']:.3f}"]
    for model, extra in ((stereo, []), (mono, camera)):
        out = tmp_path / f'{model.stem}.json'
        args = ['fuse', str(fixture('tum_desk_color.png')), '--depth-onnx', str(model), '--json', str(out)]
        assert main(args + extra) == 0, capsys.readouterr().err
        chairs = [d for d in json.loads(out.read_text())['detections'] if d['class_name'] == 'chair']
        assert len(chairs) == 2
        for det in chairs:
            assert det['depth_m'] == pytest.approx(reference_median(sensor, det['bbox_xyxy']), rel=0.05), model.stem


# --------------------------------------------------------------------------------------------------- over DDS
def _image(rgb: np.ndarray, sec: int):
    from sensor_msgs.msg import Image

    msg = fill_image(Image(), rgb, 'rgb8')
    msg.header.stamp.sec, msg.header.frame_id = sec, 'camera_optical'
    return msg


def test_depth_node_publishes_the_metres_of_a_stereo_model(domain_id, ros_peer, desk, tmp_path):
    """depth_node with the stereo model publishes the true metres with the image's header; with the model exported
    without its sigmoid it logs why each frame fails, publishes nothing for it and keeps running."""
    from sensor_msgs.msg import Image

    frame, _, truth, _, references = desk
    stereo = sigmoid_model(tmp_path / 'stereo.onnx', truth, STEREO, {'output_scale': STEREO, 'name': 'stereo-test'})
    logits = sigmoid_model(tmp_path / 'logits.onnx', truth, STEREO, {'output_scale': STEREO}, activation='')
    inbox = {name: ros_peer.subscribe(Image, f'/{name}/depth') for name in ('stereo', 'logits')}
    pubs = {name: ros_peer.publisher(Image, f'/{name}/image') for name in ('stereo', 'logits')}
    nodes = {name: NodeProcess('depth_node', domain_id, params={'onnx_model': str(model), 'reliability': 'reliable'},
                               remap={'__node': f'{name}_depth', 'image': f'/{name}/image', 'depth': f'/{name}/depth'})
             for name, model in (('stereo', stereo), ('logits', logits))}
    with nodes['stereo'] as good, nodes['logits'] as bad:
        for name, node in (('stereo', good), ('logits', bad)):
            node.wait_for_output('subscribed to', timeout=90)
            ros_peer.wait_for_subscribers(pubs[name])
        assert 'sigmoid_disparity' in good.output and 'stereo-test' in good.output
        pubs['stereo'].publish(_image(frame.rgb, 7))
        msg = inbox['stereo'].wait_for(1, timeout=30)[-1]
        assert (msg.header.stamp.sec, msg.header.frame_id, msg.encoding) == (7, 'camera_optical', '32FC1')
        errors = _box_errors(message_to_cvimage(msg), references)
        assert max(abs(e) for e in errors.values()) < 0.05, errors

        pubs['logits'].publish(_image(frame.rgb, 8))
        bad.wait_for_output(r'inference failed .*outside \[0, 1\]: not a sigmoid disparity', timeout=30)
        bad.wait_for_output(r', 1 failed', timeout=30)  # counted in the node's summary
        assert bad.proc.poll() is None and not inbox['logits'].messages

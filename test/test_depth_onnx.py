"""ONNX export and the ONNX Runtime backend, with sidecar YAMLs for metric and relative inverse-depth models.

The ONNX models here run on ONNX Runtime (``from_onnx`` below), the fp32 backend these tests compare with torch;
OpenVINO runs the same exports in test_openvino.py."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
import yaml
from depth_helpers import plumbing_checkpoint, sample_image, untrained_checkpoint

from jdd_ros.cli import main as cli_main
from jdd_ros.depth.checkpoint import CheckpointError, load_checkpoint
from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.depth.onnx_export import export_module
from jdd_ros.depth.sidecar import SidecarError, load_sidecar, parse_sidecar

torch.set_num_threads(1)
SIZE = (64, 96)


def from_onnx(*args, **kwargs) -> DepthEstimator:
    return DepthEstimator.from_onnx(*args, backend='onnxruntime', **kwargs)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return plumbing_checkpoint(tmp_path_factory.mktemp('ck') / 'depth.pt', input_size=SIZE)


@pytest.fixture(scope='module')
def torch_estimator(checkpoint):
    return DepthEstimator.from_checkpoint(checkpoint, backend='torch')


@pytest.fixture(scope='module')
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp('onnx') / 'depth.onnx'
    assert cli_main(['export-depth-onnx', '--checkpoint', str(checkpoint), '--out', str(out)]) == 0
    return out


def test_export_writes_a_valid_model_and_its_sidecar(exported):
    onnx.checker.check_model(onnx.load(str(exported)))
    side = exported.with_suffix('.yaml')
    data = yaml.safe_load(side.read_text())
    assert data['output_kind'] == 'metric'
    assert data['input_size'] == list(SIZE)
    assert data['trained_on'] == 'plumbing-test'
    assert data['min_depth'] == 0.1 and data['max_depth'] == 10.0
    spec = load_sidecar(side)
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))


def test_onnx_runtime_agrees_with_torch(exported, torch_estimator):
    ort_est = from_onnx(exported)
    assert ort_est.backend == 'onnxruntime' and ort_est.is_metric
    assert 'depth.yaml' in ort_est.sha256_verified_against
    img = sample_image(120, 160)
    ref = torch_estimator.predict(img)
    got = ort_est.predict(img)
    assert got.shape == (120, 160)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-4)
    assert ref.std() > 0.05  # a real comparison, not of two constants


def test_dynamic_input_size_and_batches(exported, checkpoint):
    torch_est = DepthEstimator.from_checkpoint(checkpoint, backend='torch', input_size=(96, 128))
    ort_est = from_onnx(exported, input_size=(96, 128))
    images = [sample_image(90, 120, seed=2), sample_image(50, 70, seed=3)]
    for a, b in zip(ort_est.predict_batch(images), torch_est.predict_batch(images)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_checkpoint_with_onnxruntime_backend(checkpoint, torch_estimator):
    est = DepthEstimator.from_checkpoint(checkpoint, backend='onnxruntime')
    img = sample_image(70, 90)
    np.testing.assert_allclose(est.predict(img), torch_estimator.predict(img), rtol=1e-3, atol=1e-4)


def test_export_refuses_untrained_checkpoints(tmp_path, capsys):
    path = untrained_checkpoint(tmp_path / 'u.pt')
    assert cli_main(['export-depth-onnx', '--checkpoint', str(path), '--out', str(tmp_path / 'u.onnx')]) == 2
    assert 'UNTRAINED' in capsys.readouterr().err
    assert not (tmp_path / 'u.onnx').exists()


class InverseDepth(torch.nn.Module):
    """Our U-Net turned into a MiDaS-like model: affine inverse depth, meaningless scale for the consumer."""

    def __init__(self, model: torch.nn.Module, scale: float, shift: float):
        super().__init__()
        self.model, self.scale, self.shift = model, scale, shift

    def forward(self, x):
        return self.scale / self.model(x) + self.shift


class BgrNhwcMillimetres(torch.nn.Module):
    """Takes NHWC BGR input and outputs millimetres as N,H,W: exercises channel order, layout and output scale."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        rgb = x.permute(0, 3, 1, 2).flip(1)
        return self.model(rgb)[:, 0] * 1000.0


def _write(path, **data):
    path.write_text(yaml.safe_dump(data))
    return path


def _export(module, path, dummy_shape=None):
    if dummy_shape is None:
        export_module(module, SIZE, path, dynamic=False)
    else:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # legacy exporter (no onnxscript here) and tracer notices
            torch.onnx.export(module.eval(), (torch.zeros(*dummy_shape),), str(path), input_names=['x'],
                              output_names=['y'], opset_version=17, dynamo=False)
    return path


def test_relative_inverse_with_fixed_scale(checkpoint, torch_estimator, tmp_path):
    model, meta, _ = load_checkpoint(checkpoint)
    path = _export(InverseDepth(model, 2.5, 0.0), tmp_path / 'inv.onnx')
    _write(tmp_path / 'inv.yaml', input_size=list(SIZE), output_kind='relative_inverse', output_scale=0.4)
    est = from_onnx(path)
    img = sample_image(80, 100)
    np.testing.assert_allclose(est.predict(img), torch_estimator.predict(img), rtol=2e-3, atol=1e-4)


def test_relative_inverse_aligned_per_frame_to_a_sparse_reference(checkpoint, torch_estimator, tmp_path):
    model, meta, _ = load_checkpoint(checkpoint)
    path = _export(InverseDepth(model, 2.5, 0.3), tmp_path / 'rel.onnx')
    _write(tmp_path / 'rel.yaml', input_size=list(SIZE), output_kind='relative_inverse', alignment='reference',
           name='midas-like')
    est = from_onnx(path)
    assert not est.is_metric
    img = sample_image(80, 100)
    with pytest.raises(RuntimeError, match='predict_aligned'):
        est.predict(img)
    truth = torch_estimator.predict(img)
    sparse = np.full_like(truth, np.nan)
    sparse[::9, ::11] = truth[::9, ::11]  # a few LiDAR-like points
    depth, scale, shift = est.predict_aligned(img, sparse)
    # raw = 2.5 / d + 0.3  =>  1/d = 0.4 * raw - 0.12
    assert scale == pytest.approx(0.4, rel=1e-2) and shift == pytest.approx(-0.12, abs=2e-3)
    np.testing.assert_allclose(depth, truth, rtol=5e-3, atol=1e-3)
    with pytest.raises(ValueError, match='valid reference pixels'):
        est.predict_aligned(img, np.full_like(truth, np.nan))


def test_bgr_nhwc_and_output_scale(checkpoint, torch_estimator, tmp_path):
    model, meta, _ = load_checkpoint(checkpoint)
    path = _export(BgrNhwcMillimetres(model), tmp_path / 'mm.onnx', dummy_shape=(1, *SIZE, 3))
    _write(tmp_path / 'mm.yaml', input_size=list(SIZE), output_kind='metric', channel_order='bgr',
           input_layout='nhwc', output_scale=0.001, min_depth=0.1, max_depth=10.0)
    est = from_onnx(path)
    img = sample_image(64, 96)
    np.testing.assert_allclose(est.predict(img), torch_estimator.predict(img), rtol=1e-3, atol=1e-4)
    # The same file described wrongly (rgb instead of bgr) gives a different answer: the option really matters.
    _write(tmp_path / 'wrong.yaml', input_size=list(SIZE), output_kind='metric', input_layout='nhwc',
           output_scale=0.001)
    wrong = from_onnx(path, sidecar=tmp_path / 'wrong.yaml').predict(img)
    assert np.abs(wrong - torch_estimator.predict(img)).max() > 1e-2


def test_metric_range_limits_become_nan(checkpoint, torch_estimator, tmp_path):
    model, meta, _ = load_checkpoint(checkpoint)
    path = _export(model, tmp_path / 'm.onnx')
    img = sample_image(64, 96)
    ref = torch_estimator.predict(img)
    cut = float(np.median(ref))
    _write(tmp_path / 'm.yaml', input_size=list(SIZE), output_kind='metric', max_depth=cut)
    got = from_onnx(path).predict(img)
    assert np.isnan(got[ref > cut * 1.01]).all()
    np.testing.assert_allclose(got[ref < cut * 0.99], ref[ref < cut * 0.99], rtol=1e-3)


def test_static_model_and_sidecar_sizes_must_agree(checkpoint, tmp_path):
    model, meta, _ = load_checkpoint(checkpoint)
    path = _export(model, tmp_path / 's.onnx')
    _write(tmp_path / 's.yaml', input_size=[96, 96], output_kind='metric')
    with pytest.raises(ValueError, match='fix input_size in the sidecar'):
        from_onnx(path)


def test_sidecar_sha256_is_checked(exported, tmp_path):
    side = yaml.safe_load(exported.with_suffix('.yaml').read_text())
    side['sha256'] = 'ab' * 32
    bad = _write(tmp_path / 'bad.yaml', **side)
    with pytest.raises(CheckpointError, match='sha256'):
        from_onnx(exported, sidecar=bad)


def test_missing_files(tmp_path, exported):
    with pytest.raises(FileNotFoundError, match='export-depth-onnx'):
        from_onnx(tmp_path / 'absent.onnx')
    lone = tmp_path / 'lone.onnx'
    lone.write_bytes(exported.read_bytes())
    with pytest.raises(FileNotFoundError, match='sidecar'):
        from_onnx(lone)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / 'junk.onnx'
    path.write_bytes(b'not onnx at all')
    _write(tmp_path / 'junk.yaml', input_size=list(SIZE), output_kind='metric')
    with pytest.raises(ValueError, match='ONNX Runtime cannot load it'):
        from_onnx(path)
    with pytest.raises(ValueError, match='(OpenVINO|ONNX Runtime) cannot load it'):
        DepthEstimator.from_onnx(path)  # the default backend


GOOD = {'input_size': [64, 96], 'output_kind': 'metric'}


@pytest.mark.parametrize('change,message', [
    ({'input_size': None}, 'missing required key input_size'),
    ({'output_kind': None}, 'missing required key output_kind'),
    ({'input_size': [64]}, r'input_size must be \[height, width\]'),
    ({'input_size': [64, -1]}, 'input_size must be'),
    ({'output_kind': 'disparity'}, 'output_kind must be one of metric, relative_inverse'),
    ({'output_scal': 0.001}, 'unknown key.*output_scal'),
    ({'channel_order': 'grb'}, 'channel_order must be one of rgb, bgr'),
    ({'input_layout': 'chw'}, 'input_layout must be one of nchw, nhwc'),
    ({'mean': [0.5, 0.5]}, 'mean must be a list of 3 numbers'),
    ({'std': [0.2, 0.0, 0.2]}, r'std\[1\] must be > 0'),
    ({'output_scale': 'big'}, 'output_scale must be a finite number'),
    ({'output_scale': 0}, 'output_scale must not be 0'),
    ({'min_depth': 5.0, 'max_depth': 1.0}, 'min_depth 5.0 must be below max_depth'),
    ({'output_kind': 'relative_inverse'}, 'relative_inverse model needs output_scale'),
    ({'alignment': 'reference'}, 'alignment reference applies to relative models only'),
    ({'pixel_scale': -1}, 'pixel_scale must be > 0'),
])
def test_sidecar_errors_name_the_problem(change, message):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(SidecarError, match=message):
        parse_sidecar(data, 'model.yaml')


def test_sidecar_not_a_mapping_and_bad_yaml(tmp_path):
    with pytest.raises(SidecarError, match='expected a mapping'):
        parse_sidecar(['input_size'], 'x.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('input_size: [64, 96\noutput_kind: metric\n')
    with pytest.raises(SidecarError, match='not valid YAML'):
        load_sidecar(bad)


def test_sidecar_defaults():
    spec = parse_sidecar(GOOD)
    assert spec.output_scale == 1.0 and spec.channel_order == 'rgb' and spec.input_layout == 'nchw'
    assert spec.pixel_scale == 255.0 and spec.is_metric_without_reference


def test_sizes_not_multiple_of_32_export_as_fixed_size_models(tmp_path):
    ckpt = plumbing_checkpoint(tmp_path / 'nyu.pt', input_size=(48, 80))  # like NYU's 240x320: padded inside
    out = tmp_path / 'nyu.onnx'
    assert cli_main(['export-depth-onnx', '--checkpoint', str(ckpt), '--out', str(out)]) == 0
    shape = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, 3, 48, 80]
    img = sample_image(70, 90)
    np.testing.assert_allclose(from_onnx(out).predict(img),
                               DepthEstimator.from_checkpoint(ckpt, backend='torch').predict(img), rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match='fix input_size'):
        from_onnx(out, input_size=(64, 96))


@pytest.mark.parametrize('change,message', [
    ({'alignment': 'ground', 'reference_focal': 0}, 'reference_focal must be > 0'),
    ({'alignment': 'ground', 'min_floor_fraction': 1.5}, 'min_floor_fraction is a fraction'),
    ({'alignment': 'ground', 'alignment_time_constant': -1}, 'alignment_time_constant must be >= 0'),
    ({'output_kind': 'metric_focal', 'alignment': 'reference'}, 'alignment reference applies to relative models'),
    ({'alignment': 'floor'}, 'alignment must be one of fixed, reference, ground'),
])
def test_sidecar_camera_keys_are_checked(change, message):
    with pytest.raises(SidecarError, match=message):
        parse_sidecar({**GOOD, **change}, 'model.yaml')


def test_sidecar_models_that_need_the_camera():
    rel = parse_sidecar({**GOOD, 'output_kind': 'relative_inverse', 'alignment': 'ground'})
    assert rel.needs_camera and not rel.is_metric_without_reference and rel.output_scale is None
    focal = parse_sidecar({**GOOD, 'output_kind': 'metric_focal'})
    assert focal.needs_camera and focal.reference_focal == 300.0 and focal.output_scale == 1.0
    assert not parse_sidecar(GOOD).needs_camera

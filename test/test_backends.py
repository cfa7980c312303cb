"""Backend and precision resolution: 'auto' is OpenVINO bf16 on CPUs with native bf16 (measured ~2x ONNX Runtime
fp32), ONNX Runtime fp32 on other CPUs and without the openvino package, torch on CUDA. Other CPUs than this one are
simulated by replacing the capability probe; the missing package by blocking its import."""

import sys

import pytest

from jdd_ros.inference import backends, openvino
from jdd_ros.inference.backends import resolve_backend
from jdd_ros.params import spec


@pytest.fixture
def avx2_cpu(monkeypatch):
    """A CPU without native bf16 (AVX2 only), whatever this machine is."""
    monkeypatch.setattr(backends, '_native_bf16', lambda: (False, 'AVX2'))


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(backends, '_native_bf16', lambda: (True, 'AMX'))


@pytest.fixture
def without_openvino(monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)  # 'import openvino' raises ImportError
    openvino.cpu_supports_bf16.cache_clear()
    yield
    openvino.cpu_supports_bf16.cache_clear()


def test_auto_on_this_machine_follows_its_cpu():
    choice = resolve_backend('auto', 'cpu')
    if openvino.cpu_supports_bf16():
        assert (choice.backend, choice.precision) == ('openvino', 'bf16')
        assert f'natively ({openvino.cpu_isa()})' in choice.reason
    else:
        assert (choice.backend, choice.precision) == ('onnxruntime', 'fp32')


def test_auto_on_a_bf16_cpu_is_openvino_bf16(bf16_cpu):
    choice = resolve_backend('auto', 'cpu')
    assert (choice.backend, choice.precision) == ('openvino', 'bf16')
    assert 'AMX' in choice.reason and '~2x' in choice.reason
    assert str(choice) == 'openvino bf16'


def test_auto_on_an_avx2_cpu_is_onnxruntime_fp32(avx2_cpu):
    choice = resolve_backend('auto', 'cpu')
    assert (choice.backend, choice.precision) == ('onnxruntime', 'fp32')
    assert 'AVX2' in choice.reason and 'no native bf16' in choice.reason


def test_openvino_alone_on_an_avx2_cpu_runs_fp32(avx2_cpu):
    assert (resolve_backend('openvino', 'cpu').backend, resolve_backend('openvino', 'cpu').precision) == \
        ('openvino', 'fp32')


def test_explicit_bf16_without_native_bf16_is_refused_with_the_reason(avx2_cpu):
    for backend in ('auto', 'openvino'):
        with pytest.raises(ValueError, match=r'precision bf16: this CPU \(AVX2\) has no native bf16'):
            resolve_backend(backend, 'cpu', 'bf16')


def test_precision_fp32_keeps_onnxruntime_on_cpu(bf16_cpu):
    choice = resolve_backend('auto', 'cpu', 'fp32')
    assert (choice.backend, choice.precision) == ('onnxruntime', 'fp32')
    assert (resolve_backend('openvino', 'cpu', 'fp32').precision) == 'fp32'
    assert resolve_backend('auto', 'cpu', 'bf16').backend == 'openvino'


def test_bf16_only_on_openvino_and_openvino_only_on_cpu(bf16_cpu):
    for backend in ('onnxruntime', 'torch'):
        with pytest.raises(ValueError, match=f'precision bf16 runs on backend openvino .*not {backend}'):
            resolve_backend(backend, 'cpu', 'bf16')
    with pytest.raises(ValueError, match='backend openvino runs on the CPU only'):
        resolve_backend('openvino', 'cuda')
    with pytest.raises(ValueError, match='precision bf16 is for CPUs'):
        resolve_backend('auto', 'cuda:0', 'bf16')


def test_without_the_openvino_package_auto_falls_back_to_onnxruntime_fp32(without_openvino):
    assert openvino.openvino_version() is None
    assert openvino.cpu_supports_bf16() is False
    choice = resolve_backend('auto', 'cpu')
    assert (choice.backend, choice.precision) == ('onnxruntime', 'fp32')
    assert 'openvino package is not installed' in choice.reason
    for backend, precision in (('openvino', 'auto'), ('auto', 'bf16')):
        with pytest.raises(ValueError, match=r'needs the .openvino. package \(pip install openvino==2026.4.1\)'):
            resolve_backend(backend, 'cpu', precision)
    with pytest.raises(RuntimeError, match='pip install openvino'):
        openvino.OpenVinoRunner.open(b'', 'fp32')


def test_without_the_openvino_package_a_detector_runs_onnxruntime(without_openvino):
    from harness import yolov4_tiny_files

    from jdd_ros.detect.darknet.detector import YoloDetector

    files = yolov4_tiny_files()
    detector = YoloDetector(files['cfg'], files['weights'], files['names'])
    assert (detector.backend, detector.precision) == ('onnxruntime', 'fp32')
    assert 'not installed' in detector.backend_reason


def test_auto_is_torch_on_cuda():
    for device in ('cuda', 'cuda:1'):
        choice = resolve_backend('auto', device)
        assert choice.backend == 'torch' and choice.precision == 'auto'
    assert resolve_backend('auto', 'cuda', 'fp32').precision == 'fp32'


def test_an_explicit_backend_is_kept():
    assert resolve_backend('torch', 'cpu').backend == 'torch'
    assert resolve_backend('onnxruntime', 'cuda:0').backend == 'onnxruntime'


def test_unknown_backends_and_precisions_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="backend 'tensorrt': expected one of auto, torch, onnxruntime, openvino"):
        resolve_backend('tensorrt', 'cpu')
    with pytest.raises(ValueError, match="precision 'fp16': expected one of auto, bf16, fp32"):
        resolve_backend('auto', 'cpu', 'fp16')


def test_auto_is_the_default_of_both_model_nodes():
    for node in ('detector_node', 'depth_node'):
        assert spec(node, 'backend').default == 'auto'
        assert spec(node, 'precision').default == 'auto'
        assert spec(node, 'precision').choices == ('auto', 'bf16', 'fp32', 'int8')


def test_an_onnx_only_model_on_cuda_runs_onnxruntime_not_torch():
    from jdd_ros.inference.model_loading import resolve_onnx_backend

    choice = resolve_onnx_backend('auto', 'cuda:0')
    assert choice.backend == 'onnxruntime' and 'CUDA provider' in choice.reason
    assert resolve_onnx_backend('auto', 'cpu') == resolve_backend('auto', 'cpu')
    with pytest.raises(ValueError, match='backend torch runs no ONNX model'):
        resolve_onnx_backend('torch', 'cpu')

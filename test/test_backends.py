"""The 'auto' backend: ONNX Runtime on CPU (measured fastest there), torch on CUDA (no onnxruntime-gpu needed)."""

import pytest

from jdd_ros.inference.backends import resolve_backend
from jdd_ros.params import spec


def test_auto_is_onnxruntime_on_cpu_and_torch_on_cuda():
    assert resolve_backend('auto', 'cpu') == 'onnxruntime'
    assert resolve_backend('auto', 'cuda') == 'torch'
    assert resolve_backend('auto', 'cuda:1') == 'torch'


def test_an_explicit_backend_is_kept():
    assert resolve_backend('torch', 'cpu') == 'torch'
    assert resolve_backend('onnxruntime', 'cuda:0') == 'onnxruntime'


def test_an_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="backend 'tensorrt': expected one of auto, torch, onnxruntime"):
        resolve_backend('tensorrt', 'cpu')


def test_auto_is_the_default_of_both_model_nodes():
    assert spec('detector_node', 'backend').default == 'auto'
    assert spec('depth_node', 'backend').default == 'auto'

"""ONNX export of the Darknet model and the ONNX Runtime backend: same outputs and detections as PyTorch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import skimage.data
import torch
from harness import fixture, yolov4_tiny_files

from jdd_ros.detect.darknet.detector import YoloDetector
from jdd_ros.detect.darknet.opencv_reference import compare_detections

torch.set_num_threads(1)


def _files():
    return [Path(p) for p in yolov4_tiny_files().values()]  # cfg, weights, names


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp('xdg_cache')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('XDG_CACHE_HOME', str(path))
        yield path / 'jdd_ros' / 'onnx'


@pytest.fixture(scope='module')
def detectors(cache_dir):
    return YoloDetector(*_files(), backend='torch'), YoloDetector(*_files(), backend='onnxruntime')


@pytest.fixture(scope='module')
def photos():
    tum = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    return [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), tum]


def test_onnxruntime_backend_gives_the_same_detections_as_torch(detectors, photos):
    torch_detector, ort_detector = detectors
    assert ort_detector.input_size == torch_detector.input_size == (416, 416)
    for image in photos:
        for a, b in zip(torch_detector.raw_outputs(image), ort_detector.raw_outputs(image)):
            assert np.abs(a - b).max() / np.abs(a).max() < 1e-5
        expected = torch_detector.detect(image)
        assert expected
        assert compare_detections(ort_detector.detect(image), expected, min_iou=0.999, max_score_diff=1e-4) == []
    batch = ort_detector.detect_batch(photos, conf_threshold=0.3)
    for image, result in zip(photos, batch):
        assert compare_detections(result, torch_detector.detect(image, 0.3), 0.999, 1e-4) == []


def test_export_is_a_valid_uint8_nhwc_model_with_dynamic_batch_and_is_cached(detectors, cache_dir):
    exported = sorted(cache_dir.glob('yolov4-tiny-*.onnx'))
    assert len(exported) == 1
    model = onnx.load(str(exported[0]))
    onnx.checker.check_model(model)
    (images,) = model.graph.input
    assert images.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = [d.dim_param or d.dim_value for d in images.type.tensor_type.shape.dim]
    assert dims == ['batch', 416, 416, 3]
    assert [o.name for o in model.graph.output] == ['head0', 'head1']
    # A second detector reuses the cached export (the same file, not a new one written over it); another input size
    # gets its own file.
    inode = exported[0].stat().st_ino
    YoloDetector(*_files(), backend='onnxruntime')
    assert exported[0].stat().st_ino == inode
    # A cached export that was altered is not used: it is exported again.
    with open(exported[0], 'ab') as f:
        f.write(b'\0')
    YoloDetector(*_files(), backend='onnxruntime')
    assert exported[0].stat().st_ino != inode
    onnx.checker.check_model(onnx.load(str(exported[0])))
    small = YoloDetector(*_files(), backend='onnxruntime', input_size=320)
    assert len(list(cache_dir.glob('yolov4-tiny-*.onnx'))) == 2
    assert [h.shape for h in small.raw_outputs(np.zeros((48, 64, 3), np.uint8))] == [(300, 85), (1200, 85)]


def test_cuda_requests_are_refused_clearly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    with pytest.raises(RuntimeError, match='no CUDA'):
        YoloDetector(*_files(), device='cuda')
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
        YoloDetector(*_files(), device='tpu')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_fp16_matches_cpu_fp32(detectors, photos):
    cpu = detectors[0]
    gpu = YoloDetector(*_files(), device='cuda')
    assert gpu.fp16
    for image in photos:
        # fp16 moves scores by ~1e-3 and boxes by a fraction of a pixel.
        assert compare_detections(gpu.detect(image), cpu.detect(image), min_iou=0.95, max_score_diff=0.02) == []

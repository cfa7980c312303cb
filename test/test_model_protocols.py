"""The Detector and DepthModel protocols declare what their users read, and each implementation provides it.

Every attribute the nodes, the offline tools and /diagnostics read of a detector or a depth model is a member of its
protocol (no ``getattr`` with a default): checked here on the real implementations — every registered detector family
built from node parameters, and a real depth checkpoint — against values computed independently (the files' sha256).
"""

import hashlib
import typing
from pathlib import Path

import numpy as np
from depth_helpers import plumbing_checkpoint
from harness import tum_desk_frame, yolov4_tiny_files
from ultralytics_models import build_model
from yolox_models import build as build_yolox

from jdd_ros.depth.checkpoint import DepthModelMeta
from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.depth.model import SYNTHETIC_WARNING, DepthModel, DepthModelParams, build_depth_model, trust_warnings
from jdd_ros.detect.base import Detector
from jdd_ros.detect.registry import FAMILIES, build_detector
from jdd_ros.param_types import DepthNodeParams
from jdd_ros.params import snapshot


def _members(protocol: type) -> set[str]:
    annotated = set(typing.get_type_hints(protocol, localns={'DepthModelMeta': DepthModelMeta}))
    methods = {name for name, value in vars(protocol).items() if not name.startswith('_') and
               (callable(value) or isinstance(value, property))}
    return annotated | methods


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_every_detector_family_provides_every_member_of_the_protocol_and_its_file_digest(tmp_path):
    files = yolov4_tiny_files()
    onnx_path = build_model(tmp_path / 'v8.onnx', 'v8', 3)
    yolox_path = build_yolox(tmp_path / 'yolox.onnx', 3)
    built = {
        'darknet': (build_detector(snapshot('detector_node', {**files, 'backend': 'onnxruntime', 'precision': 'fp32'})),
                    files['weights']),
        'ultralytics': (build_detector(snapshot('detector_node', {'family': 'ultralytics', 'weights': str(onnx_path),
                                                                  'precision': 'fp32'})), onnx_path),
        'yolox': (build_detector(snapshot('detector_node', {'family': 'yolox', 'weights': str(yolox_path),
                                                            'precision': 'fp32'})), yolox_path),
    }
    assert set(built) == set(FAMILIES), 'a registered family is not checked here'
    for detector, model_file in built.values():
        assert isinstance(detector, Detector)
        missing = {m for m in _members(Detector) if not hasattr(detector, m)}
        assert not missing, f'{type(detector).__name__} lacks {missing}'
        assert detector.sha256 == _sha256(model_file)
    darknet = built['darknet'][0]
    boxes = darknet.detect(tum_desk_frame().rgb)
    assert boxes and all(d.class_name in darknet.class_names for d in boxes)


def test_a_depth_checkpoint_provides_every_member_of_the_protocol(tmp_path):
    """A checkpoint trained on synthetic scenes only, no better than a constant depth: its metadata, read through the
    protocol, gives both warnings."""
    path = plumbing_checkpoint(tmp_path / 'depth.pt', trained_on='synthetic', epochs=2,
                               metrics={'delta1': 0.31, 'constant_best_delta1': 0.42})
    params = DepthNodeParams(checkpoint=str(path), backend='torch', precision='fp32')
    assert set(typing.get_type_hints(DepthModelParams)) <= set(typing.get_type_hints(DepthNodeParams))
    model = build_depth_model(params)
    assert isinstance(model, DepthModel) and isinstance(model, DepthEstimator)
    missing = {m for m in _members(DepthModel) if not hasattr(model, m)}
    assert not missing, f'DepthEstimator lacks {missing}'
    assert isinstance(model.meta, DepthModelMeta)
    assert model.sha256 == _sha256(path) and model.device == 'cpu' and model.backend == 'torch'
    assert model.meta.max_depth == DepthModelMeta().max_depth
    depth = model.predict(np.zeros((48, 64, 3), np.uint8))
    assert depth.shape == (48, 64) and depth.dtype == np.float32
    warnings = trust_warnings(model)
    assert warnings[0] == SYNTHETIC_WARNING and 'BARELY TRAINED' in warnings[1] and '0.310 after 2 epoch' in warnings[1]

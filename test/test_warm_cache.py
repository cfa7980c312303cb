"""With warm caches (the ONNX exports and compiled OpenVINO models of jdd_ros.inference.export_cache), building the
detector and the depth model the way the nodes do imports no torch (a robot computer has little memory: libtorch
is ~400 MB resident). Each build runs in a fresh Python process that reports what it imported and what it computed;
the first build (cold cache) must import torch to export, the second must not, and both must give the same results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from depth_helpers import plumbing_checkpoint
from harness import MODEL_STORE, fixture, yolov4_tiny_files

from jdd_ros.depth.checkpoint import CheckpointError
from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.depth.model import build_depth_model
from jdd_ros.param_types import DepthNodeParams

# Builds both models as detector_node and depth_node do (build_detector / build_depth_model with the node's
# parameters), runs them on the real TUM desk frame, and prints what it found as JSON.
BUILD = '''
import json, sys
import cv2
from jdd_ros.param_types import DepthNodeParams, DetectorNodeParams
from jdd_ros.detect.registry import build_detector
from jdd_ros.depth.model import build_depth_model
backend, precision, checkpoint, store, image = sys.argv[1:6]
detector = build_detector(DetectorNodeParams(backend=backend, precision=precision), model_dir=store)
depth = build_depth_model(DepthNodeParams(checkpoint=checkpoint, backend=backend, precision=precision))
rgb = cv2.cvtColor(cv2.imread(image), cv2.COLOR_BGR2RGB)
print(json.dumps({
    'torch': 'torch' in sys.modules,
    'backends': [detector.backend, detector.precision, depth.backend, depth.precision],
    'detections': [[d.class_name, d.score, d.x1, d.y1, d.x2, d.y2] for d in detector.detect(rgb)],
    'depth': depth.predict(rgb)[::16, ::16].tolist(),
}))
'''


def build_in_fresh_process(cache_home, backend: str, precision: str, checkpoint) -> dict:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    proc = subprocess.run([sys.executable, '-c', BUILD, backend, precision, str(checkpoint), str(MODEL_STORE),
                           str(fixture('tum_desk_color.png'))], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('backend,precision', [('onnxruntime', 'fp32'), ('openvino', 'fp32'), ('auto', 'auto')])
def test_warm_caches_build_both_models_without_torch(tmp_path, backend, precision):
    yolov4_tiny_files()  # skips, saying why, when the model store lacks yolov4-tiny
    checkpoint = plumbing_checkpoint(tmp_path / 'depth.pt', input_size=(96, 128))
    cold = build_in_fresh_process(tmp_path / 'cache', backend, precision, checkpoint)
    assert cold['torch'], 'a cold cache is filled by exporting with torch'
    warm = build_in_fresh_process(tmp_path / 'cache', backend, precision, checkpoint)
    assert not warm['torch'], 'torch was imported although every export was cached'
    assert warm['backends'] == cold['backends']
    assert cold['detections'] and warm['detections'] == cold['detections']
    assert np.array_equal(np.array(warm['depth']), np.array(cold['depth']))


def test_a_changed_checkpoint_is_exported_again(tmp_path):
    """The cache is keyed by the checkpoint's sha256: new weights under the same name never reuse the old export."""
    yolov4_tiny_files()
    checkpoint = plumbing_checkpoint(tmp_path / 'depth.pt', input_size=(96, 128), seed=0)
    first = build_in_fresh_process(tmp_path / 'cache', 'onnxruntime', 'fp32', checkpoint)
    plumbing_checkpoint(checkpoint, input_size=(96, 128), seed=1)
    second = build_in_fresh_process(tmp_path / 'cache', 'onnxruntime', 'fp32', checkpoint)
    assert second['torch']
    assert not np.allclose(np.array(second['depth'], dtype=float), np.array(first['depth'], dtype=float),
                           equal_nan=True)


def test_the_checkpoint_is_verified_before_its_cached_export_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    checkpoint = plumbing_checkpoint(tmp_path / 'depth.pt', input_size=(64, 96))
    params = DepthNodeParams(checkpoint=str(checkpoint), backend='onnxruntime')
    build_depth_model(params)  # warms the cache
    with pytest.raises(CheckpointError, match='does not match'):
        build_depth_model(DepthNodeParams(checkpoint=str(checkpoint), backend='onnxruntime', model_sha256='0' * 64))
    # An untrained checkpoint is refused with a warm cache too (its metadata comes from the cache then).
    untrained = plumbing_checkpoint(tmp_path / 'untrained.pt', input_size=(64, 96), trained_on='', epochs=0)
    DepthEstimator.from_checkpoint(untrained, backend='onnxruntime', require_trained=False)  # caches its export
    with pytest.raises(CheckpointError, match='UNTRAINED'):
        build_depth_model(DepthNodeParams(checkpoint=str(untrained), backend='onnxruntime'))

"""The node-side helpers of /diagnostics without DDS: the counters read from FrameStats (this one, and one that counts
lost frames itself), nodes that are not running yet, the model digest, the run-time settings."""

from __future__ import annotations

from types import SimpleNamespace

from jdd_ros.inference.hashing import sha256_of
from jdd_ros.params import snapshot
from jdd_ros.ros.diagnostics import FRAME_COUNTERS, frame_totals, model_name, model_sha256, run_time_settings


def test_frame_totals_split_skipped_frames_into_replaced_and_lost():
    frames = SimpleNamespace(counts={'received': 20, 'inferred': 12, 'skipped': 7, 'bad': 1, 'failed': 0,
                                     'stamp_backwards': 2})
    worker = SimpleNamespace(skipped=5)  # 5 replaced by the worker, so 2 were sequence gaps
    assert frame_totals(frames, worker) == {
        'frames received': 20, 'frames inferred': 12, 'frames skipped': 5, 'frames lost': 2, 'frames refused': 1,
        'inference failures': 0, 'stamps backwards': 2}
    # A FrameStats that counts lost frames itself (message-lost events) is taken as it is; no worker needed.
    frames.counts = {**frames.counts, 'skipped': 6, 'lost': 3}
    totals = frame_totals(frames, None)
    assert (totals['frames skipped'], totals['frames lost']) == (6, 3)


def test_a_node_not_running_yet_reports_zeros():
    assert frame_totals(None, None) == dict.fromkeys(FRAME_COUNTERS, 0)


def test_model_digest_from_the_model_or_else_from_the_file(tmp_path):
    weights = tmp_path / 'own.onnx'
    weights.write_bytes(b'not really a model')
    params = SimpleNamespace(weights=str(weights), model='yolov4-tiny')
    assert model_sha256(SimpleNamespace(sha256='ab' * 32), params) == 'ab' * 32
    assert model_sha256(SimpleNamespace(), params) == sha256_of(weights)
    assert model_sha256(None, SimpleNamespace(weights='', model='yolov4-tiny')) == ''
    assert model_sha256(None, SimpleNamespace(weights=str(tmp_path / 'absent.onnx'))) == ''
    assert model_name(params) == 'own.onnx' and model_name(SimpleNamespace(weights='', model='yolov4')) == 'yolov4'


def test_run_time_settings_are_the_dynamic_parameters():
    current = snapshot('detector_node', {'confidence_threshold': 0.6, 'classes': ['chair', 'person']})
    settings = dict(run_time_settings('detector_node', current))
    assert settings['confidence_threshold'] == '0.6' and settings['classes'] == '[chair, person]'
    assert settings['publish_debug_image'] == 'false'
    assert 'weights' not in settings and 'device' not in settings  # read at start-up: not a setting

"""The node-side helpers of /diagnostics without DDS: the counters read from FrameStats, nodes that are not configured
yet, the model digest, the run-time settings."""

from __future__ import annotations

from types import SimpleNamespace

from jdd_ros.inference.hashing import sha256_of
from jdd_ros.params import snapshot
from jdd_ros.ros.diagnostics import FRAME_COUNTERS, frame_totals, model_name, model_sha256, run_time_settings


def test_frame_totals_are_the_frame_stats_counts_with_skipped_and_lost_apart():
    from jdd_ros.ros.frame_stats import FrameStats

    stats = FrameStats(SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None), '/image')
    gid = {'data': b'camera'}
    for seq, replaced in ((1, False), (4, False), (5, True)):  # 2 sequence gaps (2, 3), one replaced before inference
        stats.received({'publication_sequence_number': seq, 'publisher_gid': gid}, replaced)
    stats.lost(SimpleNamespace(total_count_change=1))  # of the two gaps, one was lost in transport
    stats.inferred(0.01, 0.0)
    assert frame_totals(stats) == {
        'frames received': 3, 'frames inferred': 1, 'frames skipped': 2, 'frames lost': 1, 'frames refused': 0,
        'inference failures': 0, 'stamps backwards': 0}


def test_a_node_not_configured_yet_reports_zeros():
    assert frame_totals(None) == dict.fromkeys(FRAME_COUNTERS, 0)


def test_model_digest_from_the_model_or_else_from_the_file(tmp_path):
    weights = tmp_path / 'own.onnx'
    weights.write_bytes(b'not really a model')
    params = SimpleNamespace(weights=str(weights), model='yolov4-tiny')
    assert model_sha256(SimpleNamespace(sha256='ab' * 32), params) == 'ab' * 32
    assert model_sha256(SimpleNamespace(sha256=''), params) == sha256_of(weights)
    assert model_sha256(None, SimpleNamespace(weights='', model='yolov4-tiny')) == ''
    assert model_sha256(None, SimpleNamespace(weights=str(tmp_path / 'absent.onnx'))) == ''
    assert model_name(params) == 'own.onnx' and model_name(SimpleNamespace(weights='', model='yolov4')) == 'yolov4'


def test_run_time_settings_are_the_dynamic_parameters():
    current = snapshot('detector_node', {'confidence_threshold': 0.6, 'classes': ['chair', 'person']})
    settings = dict(run_time_settings('detector_node', current))
    assert settings['confidence_threshold'] == '0.6' and settings['classes'] == '[chair, person]'
    assert settings['publish_debug_image'] == 'false'
    assert 'weights' not in settings and 'device' not in settings  # read at start-up: not a setting

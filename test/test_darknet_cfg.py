"""Darknet cfg parser, model builder and .weights reader: sizes, header versions and refusals."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from harness import fixture, yolov4_tiny_files

from jdd_ros.detect.darknet.cfg import DarknetConfigError, parse_cfg_text
from jdd_ros.detect.darknet.detector import YoloDetector
from jdd_ros.detect.darknet.network import build_model
from jdd_ros.detect.darknet.random_weights import synthetic_darknet_arrays
from jdd_ros.detect.darknet.weights import DarknetWeightsError, WeightsHeader, write_weights

torch.set_num_threads(1)

# A small custom model: 3 classes, 96x64 input, every layer type and option yolov4/yolov4-tiny use.
CUSTOM_CFG = """
[net]
width=96
height=64
channels=3
batch=16  # training options of [net] are ignored

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=mish

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[route]
layers=-1
groups=2
group_id=1

[convolutional]
batch_normalize=1
filters=16
size=1
stride=1
pad=1
activation=leaky

[shortcut]
from=-3
activation=linear

[maxpool]
size=2
stride=2

[maxpool]
size=5
stride=1

[route]
layers=-1,-2

[convolutional]
size=1
stride=1
pad=1
filters=24
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58, 81,82
classes=3
num=4
scale_x_y=1.05
jitter=.3
ignore_thresh=.7

[route]
layers=-3

[upsample]
stride=2

[route]
layers=-1,4

[convolutional]
size=1
stride=1
pad=1
filters=8
activation=linear

[yolo]
mask=3
anchors=10,14, 23,27, 37,58, 81,82
classes=3
num=4
scale_x_y=1.2
"""


def _custom_values() -> int:
    # conv0: 8*(4) + 8*3*9; conv1: 16*4 + 16*8*9; conv3: 16*4 + 16*8*1; conv8: 24 + 24*32; conv13: 8 + 8*48
    return (8 * 4 + 8 * 3 * 9) + (16 * 4 + 16 * 8 * 9) + (16 * 4 + 16 * 8) + (24 + 24 * 32) + (8 + 8 * 48)


def test_official_cfgs_account_for_the_official_file_sizes():
    tiny = yolov4_tiny_files()
    for cfg, size in ((fixture('yolov4.cfg'), 257_717_640), (tiny['cfg'], 24_251_276)):
        model = build_model(cfg)
        assert WeightsHeader().size + 4 * model.darknet_value_count() == size, cfg
        assert model.num_classes == 80
    assert Path(tiny['weights']).stat().st_size == 24_251_276


def test_custom_cfg_builds_with_its_class_count_input_size_and_weights_size(tmp_path):
    config = parse_cfg_text(CUSTOM_CFG)
    assert (config.height, config.width) == (64, 96)
    model = build_model(config)
    assert model.num_classes == 3
    assert model.darknet_value_count() == _custom_values()
    with torch.inference_mode():
        heads = model(torch.rand(2, 3, 64, 96))
    # 96x64 / 8 -> 12x8 cells x 3 anchors; / 4 -> 24x16 cells x 1 anchor; 5 + 3 columns.
    assert [tuple(h.shape) for h in heads] == [(2, 8 * 12 * 3, 8), (2, 16 * 24 * 1, 8)]


def test_unsupported_layer_is_refused_with_index_and_name():
    text = CUSTOM_CFG.replace('[maxpool]\nsize=5', '[reorg]\nsize=5', 1)
    with pytest.raises(DarknetConfigError, match=r'layer 6 \[reorg\].*unsupported layer type'):
        parse_cfg_text(text)


@pytest.mark.parametrize('old, new, message', [
    ('activation=mish', 'activation=mish\nstride_x=2', r'layer 0 \[convolutional\].*unsupported option.*stride_x'),
    ('activation=mish', 'activation=gelu', r'layer 0 \[convolutional\].*unsupported activation \'gelu\''),
    ('scale_x_y=1.2', 'scale_x_y=1.2\nnew_coords=1', r'layer 14 \[yolo\].*new_coords'),
    ('from=-3', 'from=-3\nweights_type=per_feature', r'layer 4 \[shortcut\].*unsupported option.*weights_type'),
    ('layers=-1,4', 'layers=-1,40', r'layer 12 \[route\].*not an earlier layer'),
    ('filters=24', 'filters=25', r'layer 9 \[yolo\].*25 channels'),
    ('filters=8', 'filters=eight', r"layer 0 \[convolutional\].*filters='eight' is not an integer"),
])
def test_unsupported_or_inconsistent_options_are_refused_with_the_layer(old, new, message):
    with pytest.raises(DarknetConfigError, match=message):
        build_model(parse_cfg_text(CUSTOM_CFG.replace(old, new, 1)))


def test_letterbox_net_option_is_refused():
    with pytest.raises(DarknetConfigError, match='letter_box'):
        parse_cfg_text(CUSTOM_CFG.replace('channels=3', 'channels=3\nletter_box=1'))


def _write_custom(tmp_path, header: WeightsHeader) -> tuple:
    cfg = tmp_path / 'custom.cfg'
    cfg.write_text(CUSTOM_CFG)
    model = build_model(cfg)
    calibration = np.random.default_rng(0).integers(0, 256, (1, 64, 96, 3), dtype=np.uint8)
    arrays = synthetic_darknet_arrays(model, calibration, seed=3)
    weights = tmp_path / f'custom-{header.major}.{header.minor}.weights'
    size = write_weights(weights, arrays, header)
    return cfg, weights, size, model


@pytest.mark.parametrize('header, header_bytes', [
    (WeightsHeader(0, 2, 5, seen=2**40), 20),  # 64-bit seen count since format 0.2
    (WeightsHeader(0, 1, 0, seen=123), 16),  # 32-bit before
    (WeightsHeader(1, 0, 0, seen=7), 20),
])
def test_weights_header_versions_load_the_same_values(tmp_path, header, header_bytes):
    cfg, weights, size, written = _write_custom(tmp_path, header)
    assert size == header_bytes + 4 * _custom_values()
    loaded = build_model(cfg, weights)
    x = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        for a, b in zip(written(x), loaded(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('delta', [-4, -1000, 4, 1000])
def test_weights_of_the_wrong_size_are_refused_naming_expected_and_actual_bytes(tmp_path, delta):
    cfg, weights, size, _ = _write_custom(tmp_path, WeightsHeader())
    data = weights.read_bytes()
    weights.write_bytes(data[:delta] if delta < 0 else data + b'\0' * delta)
    expected, actual = f'{size:,}', f'{size + delta:,}'
    with pytest.raises(DarknetWeightsError, match=f'has {actual} bytes but the cfg needs {expected} bytes'):
        build_model(cfg, weights)


class _Payload:
    """Unpickling this would create a file: the loader must never unpickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), 'w'))


def test_a_pickle_posing_as_weights_is_refused_without_being_unpickled(tmp_path):
    cfg, _, _, _ = _write_custom(tmp_path, WeightsHeader())
    marker = tmp_path / 'pwned'
    fake = tmp_path / 'fake.weights'
    fake.write_bytes(pickle.dumps({'state_dict': _Payload(marker)}))
    with pytest.raises(DarknetWeightsError):
        YoloDetector(cfg, fake, ['a', 'b', 'c'])
    assert not marker.exists()


def test_detector_argument_checks(tmp_path):
    cfg, weights, _, _ = _write_custom(tmp_path, WeightsHeader())
    with pytest.raises(ValueError, match='multiple of 32'):
        YoloDetector(cfg, weights, ['a', 'b', 'c'], input_size=100)
    with pytest.raises(ValueError, match='2 class names but the cfg has 3 classes'):
        YoloDetector(cfg, weights, ['a', 'b'])
    with pytest.raises(ValueError, match='backend'):
        YoloDetector(cfg, weights, ['a', 'b', 'c'], backend='tensorrt')
    with pytest.raises(ValueError, match='fp16'):
        YoloDetector(cfg, weights, ['a', 'b', 'c'], fp16=True)
    det = YoloDetector(cfg, weights, ['a', 'b', 'c'], input_size=128)
    assert det.input_size == (128, 128)
    assert [h.shape for h in det.raw_outputs(np.zeros((50, 70, 3), np.uint8))] == [(16 * 16 * 3, 8), (32 * 32, 8)]
    with pytest.raises(ValueError, match='unknown class name'):
        det.detect(np.zeros((50, 70, 3), np.uint8), classes=['dog'])
    with pytest.raises(ValueError, match='conf_threshold must be within'):
        det.detect(np.zeros((50, 70, 3), np.uint8), conf_threshold=1.5)
    with pytest.raises(ValueError, match='HxWx3 uint8'):
        det.detect(np.zeros((50, 70), np.uint8))

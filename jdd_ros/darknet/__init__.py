"""YOLO models from Darknet cfg/weights files, run with PyTorch or ONNX Runtime (no Darknet, no ROS)."""

import os

# PyTorch's OpenMP workers spin while waiting by default; on a CPU shared with other nodes that made inference up to
# 7x slower (bench_detector.py on a loaded 2-core machine). Only effective when set before torch is first imported;
# an explicit setting by the user wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from .cfg import DarknetConfig, DarknetConfigError, parse_cfg, parse_cfg_text
from .detector import YoloDetector
from .model import DarknetModel, build_model, load_darknet_weights
from .weights import DarknetWeightsError, WeightsHeader, read_weights, write_weights

__all__ = [
    'DarknetConfig', 'DarknetConfigError', 'DarknetModel', 'DarknetWeightsError', 'WeightsHeader', 'YoloDetector',
    'build_model', 'load_darknet_weights', 'parse_cfg', 'parse_cfg_text', 'read_weights', 'write_weights',
]

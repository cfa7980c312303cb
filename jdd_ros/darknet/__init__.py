"""YOLO models from Darknet cfg/weights files, run with PyTorch or ONNX Runtime (no Darknet, no ROS)."""

from .cfg import DarknetConfig, DarknetConfigError, parse_cfg, parse_cfg_text
from .detector import YoloDetector
from .model import DarknetModel, build_model, load_darknet_weights
from .weights import DarknetWeightsError, WeightsHeader, read_weights, write_weights

__all__ = [
    'DarknetConfig', 'DarknetConfigError', 'DarknetModel', 'DarknetWeightsError', 'WeightsHeader', 'YoloDetector',
    'build_model', 'load_darknet_weights', 'parse_cfg', 'parse_cfg_text', 'read_weights', 'write_weights',
]

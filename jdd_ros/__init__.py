"""jdd_ros: joint monocular depth and YOLOv4 detection for ROS 2.

Layers (docs/architecture.md; test/test_layering.py enforces them): ``core`` (algorithms on numpy arrays), ``io``
(images, frames, bags, drawing), ``inference`` (backends, devices, sessions, model-file hashing), ``detect`` and
``depth`` (model families), ``apps`` (offline pipelines, the process launcher), ``ros`` (the only layer that
imports rclpy, with ``nodes``), ``cli`` (every command line). ``params`` and ``bringup`` are the one parameter schema
and the one launch description.
"""

import os

# PyTorch's OpenMP workers spin while waiting by default; on a CPU shared with the other nodes that made inference up
# to 7x slower (bench_detector.py, bench_depth.py on a loaded 2-core machine). Set here, before jdd_ros.detect or
# jdd_ros.depth can import torch (only effective before torch's first import); an explicit setting by the user wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

__version__ = '0.1.0'

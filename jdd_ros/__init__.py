"""jdd_ros: joint monocular depth and YOLOv4 detection for ROS 2.

The modules directly under this package (image codec, box depth, Darknet, depth models, fusion, drawing, parameter
schema) import no ROS package; ROS glue lives in ``jdd_ros.ros`` and the nodes in ``jdd_ros.nodes``.
"""

import os

# PyTorch's OpenMP workers spin while waiting by default; on a CPU shared with the other nodes that made inference up
# to 7x slower (bench_detector.py, bench_depth.py on a loaded 2-core machine). Set here, before jdd_ros.darknet or
# jdd_ros.depth can import torch (only effective before torch's first import); an explicit setting by the user wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

__version__ = '0.1.0'

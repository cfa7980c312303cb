"""Monocular metric depth: the ResNet U-Net, its checkpoint format, ONNX export and the backend-agnostic estimator.

Submodules are imported where used (``from jdd_ros.depth.estimator import DepthEstimator``) so that importing the
package does not pull torch into processes that only need, say, the sidecar parser.
"""

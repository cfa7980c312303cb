"""Monocular metric depth: the ResNet U-Net, its checkpoint format, ONNX export and the backend-agnostic estimator.

Submodules are imported where used (``from jdd_ros.depth.estimator import DepthEstimator``) so that importing the
package does not pull torch into processes that only need, say, the sidecar parser.
"""

import os

# PyTorch's OpenMP workers spin while waiting by default; on a CPU shared with the detector and fusion nodes that
# slows everyone down (jdd_ros.darknet measured up to 7x). Effective only before torch is first imported; an explicit
# setting by the user wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

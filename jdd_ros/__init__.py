"""jdd_ros: joint monocular depth and YOLOv4 detection for ROS 2.

The modules directly under this package (image codec, box depth, Darknet, depth models, fusion, drawing, parameter
schema) import no ROS package; ROS glue lives in ``jdd_ros.ros`` and the nodes in ``jdd_ros.nodes``.
"""

__version__ = '0.1.0'

"""The "ultralytics" detector family: YOLO models exported to ONNX by Ultralytics (v8, YOLO11, v10, YOLO26, v5u, with
``end2end``/``nms=True`` exports too) or by YOLOv5's ``export.py``.

Stages, so the runtime can be swapped without touching decoding: :mod:`.metadata` (what the export says about
itself), :mod:`.layout` (which output layout), :mod:`.preprocess` (letterbox), :mod:`.decode` (numpy
post-processing), :mod:`.detector` (checks the export and runs it through ``jdd_ros.inference``) and :mod:`.family`
(the entry of ``jdd_ros.detect.registry``).
"""

from jdd_ros.detect.ultralytics.detector import UltralyticsDetector
from jdd_ros.detect.ultralytics.layout import LAYOUTS

__all__ = ['LAYOUTS', 'UltralyticsDetector']

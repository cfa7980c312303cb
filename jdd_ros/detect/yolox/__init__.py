"""The "yolox" detector family: Megvii's YOLOX exported to ONNX by its ``tools/export_onnx.py``, with the raw head
(the default) or with ``--decode_in_inference``.

Stages: :mod:`.preprocess` (top-left letterbox, BGR 0-255), :mod:`.head` (the anchor grid, the strides an output's
row count means, the grid decoding), :mod:`.graph` (whether the export decodes in its graph), :mod:`.detector` (checks
the export and runs it through ``jdd_ros.inference``) and :mod:`.family` (the entry of ``jdd_ros.detect.registry``).
Selection and NMS are the shared ones of ``jdd_ros.detect.candidates``.
"""

from jdd_ros.detect.yolox.detector import YoloxDetector

__all__ = ['YoloxDetector']

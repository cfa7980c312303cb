"""Detector families behind one ``Detector`` protocol (``base``) and one ``build_detector`` (``registry``):
``darknet`` (YOLOv4 from Darknet files, the default), ``ultralytics`` (YOLOv5/v8/v11 ONNX exports) and ``yolox``
(YOLOX ONNX exports). The export families share ``user_export``, ``letterbox`` and ``candidates``."""

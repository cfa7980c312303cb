"""Detector families behind one ``Detector`` protocol (``base``) and one ``build_detector`` (``registry``):
``darknet`` (YOLOv4 from Darknet files, the default) and ``ultralytics`` (YOLOv5/v8/v11 ONNX exports)."""

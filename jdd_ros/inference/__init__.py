"""How models run, for every model family: ``runtime.open_model`` (the one place an ONNX model is opened), backend and
precision resolution (``backends``), the runners (ONNX Runtime, OpenVINO), devices, file hashing and the cache of
exported and compiled models. No ROS and no model family here; nothing in this package imports torch, onnxruntime or
openvino at import time."""

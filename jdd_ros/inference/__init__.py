"""How models run, for every model family: ``model_loading`` (where every model is opened: ``open_model`` for ONNX,
``open_torch_module`` for a torch module), backend and precision resolution (``backends``), the runners (one module
per backend: ``onnx_runtime``, ``openvino``, ``torch_runner``), devices, file hashing and the cache of exported and
compiled models. No ROS and no model family here; nothing in this package imports torch, onnxruntime or openvino at
import time (a backend's module imports its library when a model is opened on it)."""

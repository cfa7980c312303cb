"""How models run, for every model family: backends, devices, ONNX Runtime sessions, file hashing and the cache of
exported models. No ROS and no model family here; nothing in this package imports torch at import time."""

"""Which inference backend runs a model. The default, 'auto', picks the one measured fastest for the device."""

from __future__ import annotations

import importlib.util

BACKENDS = ('auto', 'torch', 'onnxruntime')


def resolve_backend(backend: str, device: str) -> str:
    """'auto' is ONNX Runtime on CPU (1.6-1.9x faster than torch for YOLOv4 and the depth U-Net on the 2-core build
    machine: README, Speed) and torch on CUDA (fp16, and no onnxruntime-gpu needed)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend != 'auto':
        return backend
    if device.startswith('cuda') or importlib.util.find_spec('onnxruntime') is None:
        return 'torch'
    return 'onnxruntime'

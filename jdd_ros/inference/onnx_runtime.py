"""ONNX Runtime sessions, configured once for every model family (detectors and depth models alike)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jdd_ros.inference.devices import parse_device
from jdd_ros.inference.runner import TensorInfo

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = ['OnnxRuntimeRunner', 'TensorInfo', 'providers', 'session_options']


def providers(device: str) -> list[str | tuple[str, dict[str, int]]]:
    """Execution providers for ``device``; RuntimeError when CUDA is asked of an onnxruntime without it."""
    import onnxruntime as ort

    kind, index = parse_device(device)
    if kind == 'cpu':
        return ['CPUExecutionProvider']
    available = ort.get_available_providers()
    if 'CUDAExecutionProvider' not in available:
        raise RuntimeError(f"device '{device}' asked for, but this onnxruntime has no CUDAExecutionProvider "
                           f"(available: {', '.join(available)}); use device 'cpu', install onnxruntime-gpu, or "
                           'use backend torch')
    return [('CUDAExecutionProvider', {'device_id': index or 0}), 'CPUExecutionProvider']


def session_options(threads: int = 0) -> ort.SessionOptions:
    """Full graph optimisation; worker threads sleep between frames instead of spinning, so an idle node does not
    burn the cores the other nodes need (measured faster on a loaded 2-core machine); ``threads`` 0: the cores this
    process may use."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return options


def _tensor_info(node: ort.NodeArg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (node.shape or ()))
    return TensorInfo(node.name, shape, node.type)


class OnnxRuntimeRunner:
    """An ONNX model (a file or its bytes) in an ONNX Runtime session: called with the first input's array, returns
    every output in the model's order (the ``jdd_ros.inference.runner.Runner`` contract). It computes in the
    export's own precision: fp32 (float16 exports in float16).

    What a model family may need to know about the graph before running it is read from the session on demand:
    ``inputs`` and ``outputs`` (:class:`TensorInfo`), ``metadata`` (the model's ``metadata_props``, strings) and
    ``providers`` (the execution providers the session really uses, in order).
    """

    def __init__(self, model: str | Path | bytes, device: str = 'cpu', threads: int = 0):
        import onnxruntime as ort

        source = model if isinstance(model, bytes) else str(model)
        options = session_options(threads)
        self.session = ort.InferenceSession(source, options, providers=providers(device))
        self.input_name = self.session.get_inputs()[0].name
        self.device = device
        self.backend = 'onnxruntime'
        self.precision = 'fp32'
        self.threads = options.intra_op_num_threads
        self.description = (f"onnxruntime {ort.__version__} on {device}, {self.threads} thread"
                            f"{'s' if self.threads != 1 else ''}")

    @property
    def inputs(self) -> list[TensorInfo]:
        return [_tensor_info(i) for i in self.session.get_inputs()]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [_tensor_info(o) for o in self.session.get_outputs()]

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch)})

"""What every inference runner provides, whichever backend runs the model (ONNX Runtime, OpenVINO, torch).

A model family opens its ONNX model with ``inference.model_loading.open_model`` (a torch module with
``open_torch_module``) and uses only this contract: call the runner with the first input's batch (as the ONNX
declares it: dtype and layout), get every output in the ONNX's order; ``inputs``/``outputs`` describe the graph as
the ONNX declares it and ``metadata`` holds its metadata_props (a torch runner: as the family declared them, no
metadata).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its name, shape (an int per fixed dimension, None per symbolic one) and element type
    as ONNX Runtime spells it ('tensor(float)', 'tensor(float16)', 'tensor(uint8)', ...)."""

    name: str
    shape: tuple[int | None, ...]
    type: str


@runtime_checkable
class Runner(Protocol):
    backend: str  # 'onnxruntime' | 'openvino' | 'torch'
    precision: str  # the precision it computes in: 'fp32', 'bf16', 'int8', 'fp16' (torch; a float16 export too)
    description: str  # one line for the start-up log: library, version, precision, device, threads
    threads: int  # the CPU threads it computes with (0: torch on CUDA)

    @property
    def inputs(self) -> list[TensorInfo]: ...

    @property
    def outputs(self) -> list[TensorInfo]: ...

    @property
    def metadata(self) -> dict[str, str]: ...

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]: ...


class FixedInterface:
    """The ``inputs``, ``outputs`` and ``metadata`` of a runner that reads them once, when it loads the model
    (OpenVINO, torch); handed out as copies, so a caller cannot change what the runner relies on."""

    _inputs: list[TensorInfo]
    _outputs: list[TensorInfo]
    _metadata: dict[str, str]

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)

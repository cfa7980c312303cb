"""Where every model is opened for inference, whatever its family (Darknet, Ultralytics export, depth U-Net,
external depth model): ``open_model`` opens an ONNX model on ONNX Runtime or OpenVINO (resolving the backend and
precision), ``open_torch_module`` an in-memory torch module on backend torch. Both return a runner with the
``jdd_ros.inference.runner.Runner`` contract, so the families stay free of backends. Each backend is one module
(``onnx_runtime``, ``openvino``, ``torch_runner``), imported only here and only when it runs a model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jdd_ros.inference.backends import BackendChoice, resolve_backend
from jdd_ros.inference.devices import is_cuda
from jdd_ros.inference.runner import Runner

if TYPE_CHECKING:
    import torch

    from jdd_ros.inference.openvino import Calibration
    from jdd_ros.inference.runner import TensorInfo


def resolve_onnx_backend(backend: str, device: str, precision: str = 'auto',
                         int8_parity: bool = False) -> BackendChoice:
    """``resolve_backend`` for a model that exists only as ONNX (no torch module): 'auto' on CUDA is ONNX Runtime's
    CUDA provider (onnxruntime-gpu) instead of torch; 'torch' is refused."""
    if backend == 'torch':
        raise ValueError('backend torch runs no ONNX model (it runs torch modules: open_torch_module); use auto, '
                         'onnxruntime or openvino')
    if backend == 'auto' and is_cuda(device):
        choice = resolve_backend('onnxruntime', device, precision)
        return BackendChoice(choice.backend, choice.precision, 'an ONNX model on CUDA runs on ONNX Runtime (its CUDA '
                             'provider, onnxruntime-gpu)')
    return resolve_backend(backend, device, precision, int8_parity)


def open_model(model: str | os.PathLike | bytes, *, device: str = 'cpu', backend: str = 'auto',
               precision: str = 'auto', threads: int = 0, onnx_sha256: str | None = None, name: str = '',
               input_shape: Sequence[int | None] | None = None,
               cache_dir: str | os.PathLike | None | bool = True,
               choice: BackendChoice | None = None,
               calibration: Calibration | None = None) -> tuple[Runner, BackendChoice]:
    """``model`` (an ONNX file or its bytes) ready to run, and the backend choice that runs it.

    ``backend`` 'auto', 'onnxruntime' or 'openvino' (torch runs no ONNX: ValueError); ``precision`` 'auto', 'bf16' or
    'fp32' (see ``resolve_backend``). ``threads`` 0: every core this process may use. OpenVINO only:
    ``input_shape`` fixes dynamic input dimensions (a dynamic batch is fixed to 1 anyway), and the compiled model is
    cached in ``cache_dir`` (True: ``~/.cache/jdd_ros/openvino``; None/False: not cached) under a key made of the
    ONNX's sha256 (``onnx_sha256`` when the caller has verified it already), the precision, OpenVINO's version and
    the CPU; it is used only while its own sha256 matches the one recorded when it was written. ``choice``: what a
    family already resolved (``resolve_backend``), used instead of ``backend`` and ``precision``. ``calibration``:
    the family's inputs for int8 quantisation (``jdd_ros.inference.openvino.Calibration``); int8 needs it.
    """
    choice = choice or resolve_onnx_backend(backend, device, precision)
    if choice.backend == 'torch':  # auto without onnxruntime and openvino
        raise RuntimeError(f'no ONNX backend to run {name or model!s:.80}: {choice.reason} (pip install onnxruntime)')
    if choice.backend == 'openvino':
        from jdd_ros.inference.export_cache import default_cache_dir
        from jdd_ros.inference.openvino import OpenVinoRunner

        directory = default_cache_dir('openvino') if cache_dir is True else (cache_dir or None)
        stem = name or ('model' if isinstance(model, bytes) else Path(model).stem)
        runner = OpenVinoRunner.open(model, choice.precision, threads=threads, cache_dir=directory,
                                     onnx_sha256=onnx_sha256, name=stem, input_shape=input_shape,
                                     calibration=calibration)
        return runner, choice
    from jdd_ros.inference.onnx_runtime import OnnxRuntimeRunner

    return OnnxRuntimeRunner(model, device, threads), choice


def open_torch_module(module: torch.nn.Module, *, device: str = 'cpu', precision: str = 'fp32',
                      channels_last: bool = False, threads: int = 0, inputs: Sequence[TensorInfo] = (),
                      outputs: Sequence[TensorInfo] = ()) -> Runner:
    """``module`` ready to run on backend torch (``jdd_ros.inference.torch_runner.TorchRunner``: ``precision``
    'fp32' or 'fp16', ``channels_last`` layout, ``threads`` 0 leaves torch's own setting; ``inputs``/``outputs``
    as the family's ONNX export declares them). Imports torch: call it only when backend torch was chosen."""
    from jdd_ros.inference.torch_runner import TorchRunner

    return TorchRunner(module, device, precision=precision, channels_last=channels_last, threads=threads,
                       inputs=inputs, outputs=outputs)

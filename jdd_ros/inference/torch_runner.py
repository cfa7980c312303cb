"""Backend torch: an in-memory torch module as a runner with the ``jdd_ros.inference.runner.Runner`` contract, for
every family that runs torch (a Darknet network, a depth checkpoint's U-Net). Open it with
``jdd_ros.inference.model_loading.open_torch_module``; this module imports torch, so only that function imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from jdd_ros.inference.devices import torch_device
from jdd_ros.inference.runner import FixedInterface, TensorInfo

PRECISIONS = {'fp32': torch.float32, 'fp16': torch.float16}


class TorchRunner(FixedInterface):
    """``module`` on ``device`` in ``precision`` ('fp32' or 'fp16', the module's parameters converted): called with a
    batch as the module takes it (its dtype: the module converts), returns every output as a numpy array on the
    CPU (float16 outputs as float32), in the module's order. ``channels_last``: the parameters in channels-last
    layout (what cuDNN's fp16 kernels want; on the CPU the contiguous layout measured faster, bench_detector.py).
    ``threads``: torch's intra-op threads (a process-wide setting; 0 leaves it). ``inputs``/``outputs`` describe
    the module as its family's ONNX export declares it (a module carries no names or types); ``metadata`` is empty.
    """

    backend = 'torch'

    def __init__(self, module: torch.nn.Module, device: str, *, precision: str = 'fp32', channels_last: bool = False,
                 threads: int = 0, inputs: Sequence[TensorInfo] = (), outputs: Sequence[TensorInfo] = ()):
        if precision not in PRECISIONS:
            raise ValueError(f"torch precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.device = torch_device(device)
        if threads:
            torch.set_num_threads(threads)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        self.module = module.to(device=self.device, dtype=PRECISIONS[precision], memory_format=layout).eval()
        self.precision = precision
        self.threads = torch.get_num_threads() if self.device.type == 'cpu' else 0
        on = f'{self.device}, {self.threads} thread{"s" if self.threads != 1 else ""}' if self.threads else \
            str(self.device)
        self.description = f'torch {torch.__version__} {precision} on {on}'
        self._inputs, self._outputs, self._metadata = list(inputs), list(outputs), {}

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            result = self.module(torch.from_numpy(batch).to(self.device, non_blocking=True))
            outputs = result if isinstance(result, (tuple, list)) else (result,)
            return [(out.float() if out.dtype == torch.float16 else out).cpu().numpy() for out in outputs]

"""ONNX export of a built Darknet model and inference with ONNX Runtime.

The exported graph takes resized RGB uint8 images (N, H, W, 3) and returns one decoded tensor per YOLO head, exactly
what the PyTorch backend returns. Exports are cached by the sha256 of cfg + weights + export settings, so a start-up
after the first skips the export; a cached file is used only while its own sha256 matches the one recorded when it
was written. An ONNX file holds no executable code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ..model_store import sha256_of
from .model import DarknetModel

OPSET = 17
# Bump when the exported graph changes, so stale cached exports are not reused.
EXPORT_FORMAT = 3


def default_cache_dir() -> Path:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'jdd_ros' / 'onnx'


def export_onnx(model: DarknetModel, path: str | Path, input_hw: tuple[int, int], *, fp16: bool = False,
                device: torch.device | str = 'cpu') -> Path:
    """Export ``model`` (uint8 NHWC input, dynamic batch) to ``path``, written atomically."""
    from .detector import ImageInputModel

    dtype = torch.float16 if fp16 else torch.float32
    net = ImageInputModel(model, dtype).to(device=device, dtype=dtype).eval()
    example = torch.zeros((1, *input_hw, 3), dtype=torch.uint8, device=device)
    heads = [f'head{i}' for i in range(len(model.heads))]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter('ignore')  # the TorchScript exporter announces its own deprecation
            torch.onnx.export(net, (example,), tmp, dynamo=False, opset_version=OPSET, input_names=['images'],
                              output_names=heads, dynamic_axes={name: {0: 'batch'} for name in ['images', *heads]})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _providers(device: torch.device) -> list:
    import onnxruntime as ort

    if device.type == 'cpu':
        return ['CPUExecutionProvider']
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        raise RuntimeError(f'backend onnxruntime on {device}: this onnxruntime has no CUDAExecutionProvider '
                           '(install onnxruntime-gpu) — or use backend torch')
    return [('CUDAExecutionProvider', {'device_id': device.index or 0}), 'CPUExecutionProvider']


class OnnxRuntimeRunner:
    """An ONNX Runtime session over an exported model; called with a uint8 NHWC batch, returns the heads."""

    def __init__(self, onnx_path: str | Path, device: torch.device | str = 'cpu', threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        # Idle workers sleep instead of spinning: faster when the cores are shared (depth node, camera driver), as
        # measured with bench_detector.py on a loaded 2-core machine.
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.session = ort.InferenceSession(str(onnx_path), options, providers=_providers(torch.device(device)))
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def from_model(cls, model: DarknetModel, input_hw: tuple[int, int], device: torch.device, fp16: bool, *,
                   cfg: str | Path, weights: str | Path, cache_dir: str | Path | None = None) -> OnnxRuntimeRunner:
        """Export (or reuse a cached export of) ``model`` for this input size and precision, and open it."""
        key = hashlib.sha256('|'.join([
            sha256_of(cfg), sha256_of(weights), f'{input_hw[0]}x{input_hw[1]}', 'fp16' if fp16 else 'fp32',
            f'opset{OPSET}', f'format{EXPORT_FORMAT}', torch.__version__]).encode()).hexdigest()[:32]
        path = Path(cache_dir or default_cache_dir()) / f'{Path(cfg).stem}-{key}.onnx'
        digest_file = path.with_name(path.name + '.sha256')
        # A cached export is used only if it still has the digest recorded when it was written; else re-exported.
        if not (path.exists() and digest_file.exists() and digest_file.read_text().strip() == sha256_of(path)):
            export_onnx(model, path, input_hw, fp16=fp16, device=device if fp16 else 'cpu')
            digest_file.write_text(sha256_of(path) + '\n')
        return cls(path, device)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch)})

"""ONNX export of a built Darknet model, for ONNX Runtime and OpenVINO (and any other ONNX runtime).

The exported graph takes resized RGB uint8 images (N, H, W, 3) and returns one decoded tensor per YOLO head, exactly
what the PyTorch backend returns. Exports are cached by the sha256 of cfg + weights + export settings (see
``jdd_ros.inference.export_cache``), and the cache is looked up before torch is imported: a start-up with a warm
cache never loads torch (~400 MB resident). An ONNX file holds no executable code.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from jdd_ros.inference.export_cache import cache_key, cached_file, default_cache_dir, torch_version
from jdd_ros.inference.hashing import sha256_of

if TYPE_CHECKING:
    import torch

    from jdd_ros.detect.darknet.network import DarknetModel

OPSET = 17
# Bump when the exported graph changes, so stale cached exports are not reused.
EXPORT_FORMAT = 3


def export_onnx(model: DarknetModel, path: str | Path, input_hw: tuple[int, int], *, fp16: bool = False,
                device: str | torch.device = 'cpu') -> Path:
    """Export ``model`` (uint8 NHWC input, dynamic batch) to ``path``."""
    import torch

    from jdd_ros.detect.darknet.network import INPUT_NAME, ImageInputModel, head_names

    dtype = torch.float16 if fp16 else torch.float32
    net = ImageInputModel(model, dtype).to(device=device, dtype=dtype).eval()
    example = torch.zeros((1, *input_hw, 3), dtype=torch.uint8, device=device)
    heads = head_names(model)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter('ignore')  # the TorchScript exporter announces its own deprecation
        torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
                          output_names=heads, dynamic_axes={name: {0: 'batch'} for name in [INPUT_NAME, *heads]})
    return Path(path)


def cached_export(model: DarknetModel | Callable[[], DarknetModel], input_hw: tuple[int, int], *, cfg: str | Path,
                  weights: str | Path, fp16: bool = False, device: str | torch.device = 'cpu',
                  cache_dir: str | Path | None = None) -> Path:
    """The ONNX export of ``model`` for this input size and precision, from the cache when still valid.

    ``model`` may be a function that builds it: it is called (and torch imported) only on a cache miss. The key is
    made of the cfg's and the weights' sha256, the export settings and torch's installed version (read from the
    package metadata, without importing torch).
    """
    key = cache_key([sha256_of(cfg), sha256_of(weights), f'{input_hw[0]}x{input_hw[1]}', 'fp16' if fp16 else 'fp32',
                     f'opset{OPSET}', f'format{EXPORT_FORMAT}', torch_version()])
    path = Path(cache_dir or default_cache_dir('onnx')) / f'{Path(cfg).stem}-{key}.onnx'

    def make(tmp: Path) -> None:
        net = model if hasattr(model, 'heads') else model()  # a DarknetModel, or the function that builds one
        export_onnx(net, tmp, input_hw, fp16=fp16, device=device)
    return cached_file(path, make)

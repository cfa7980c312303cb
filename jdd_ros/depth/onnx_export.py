"""ONNX export of a depth checkpoint, with the sidecar YAML that makes it loadable by ``DepthEstimator.from_onnx``.

The export has dynamic batch, height and width (any multiple of 32 works) when its input size is a multiple of 32,
else it is fixed to that size. The sidecar carries the input size, normalisation, depth range, training data and the
ONNX file's sha256.
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from pathlib import Path

import torch

from jdd_ros.depth.checkpoint import DepthModelMeta, load_checkpoint
from jdd_ros.depth.sidecar import OnnxDepthSpec, sidecar_path, write_sidecar
from jdd_ros.inference.hashing import sha256_of

OPSET = 17
INPUT_NAME = 'image'
OUTPUT_NAME = 'depth'


def export_module(module: torch.nn.Module, input_size: tuple[int, int], f: str | os.PathLike | io.BytesIO,
                  opset: int = OPSET, dynamic: bool = True) -> None:
    """Export any ``N,3,H,W -> N,1,H,W`` module (TorchScript-based exporter: needs no onnxscript)."""
    module = module.eval()
    # Our U-Net pads sizes that are not multiples of 32 with amounts fixed at trace time: such exports are static.
    dynamic = dynamic and input_size[0] % 32 == 0 and input_size[1] % 32 == 0
    dummy = torch.zeros(1, 3, *input_size)
    axes = {INPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'}, OUTPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'}}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(module, (dummy,), f, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          opset_version=opset, dynamic_axes=axes if dynamic else None, dynamo=False,
                          do_constant_folding=True)


def model_to_onnx_bytes(module: torch.nn.Module, input_size: tuple[int, int], opset: int = OPSET) -> bytes:
    buf = io.BytesIO()
    export_module(module, input_size, buf, opset)
    return buf.getvalue()


def spec_for(meta: DepthModelMeta, name: str = '') -> OnnxDepthSpec:
    """The sidecar describing an exported jdd_ros U-Net: metric output in metres, the checkpoint's normalisation."""
    return OnnxDepthSpec(input_size=tuple(meta.input_size), output_kind='metric',
                         name=name or f'jdd_ros {meta.architecture} {meta.encoder}', trained_on=meta.trained_on,
                         mean=tuple(meta.mean), std=tuple(meta.std), input_name=INPUT_NAME, output_name=OUTPUT_NAME,
                         output_scale=1.0, min_depth=meta.min_depth, max_depth=meta.max_depth)


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, input_size: tuple[int, int] | None = None,
                      opset: int = OPSET, require_trained: bool = True) -> tuple[Path, Path]:
    """Write ``out`` (.onnx) and its sidecar YAML; returns both paths."""
    model, meta, _ = load_checkpoint(checkpoint, 'cpu', require_trained=require_trained)
    if input_size:
        meta.input_size = (int(input_size[0]), int(input_size[1]))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_module(model, meta.input_size, out, opset)
    spec = dataclasses.replace(spec_for(meta), sha256=sha256_of(out))
    side = sidecar_path(out)
    write_sidecar(side, spec, comment=f'jdd_ros depth model exported from {Path(checkpoint).name}\n{meta.describe()}')
    return out, side

"""ONNX export of a depth checkpoint, with the sidecar YAML that makes it loadable by ``DepthEstimator.from_onnx``.

The export has dynamic batch, height and width (any multiple of 32 works) when its input size is a multiple of 32,
else it is fixed to that size. The sidecar carries the input size, normalisation, depth range, training data and the
ONNX file's sha256.

``cached_checkpoint_export`` keeps a checkpoint's export (and its metadata) in the export cache, keyed by the
checkpoint's verified sha256 and the export settings, and looks it up before torch is imported: the ONNX backends
start from a warm cache without torch.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from jdd_ros.depth.checkpoint import (
    HOW_TO_TRAIN,
    DepthModelMeta,
    Verified,
    check_meta,
    load_checkpoint,
    verify_sha256,
)
from jdd_ros.depth.sidecar import OnnxDepthSpec, sidecar_path, write_sidecar
from jdd_ros.inference.export_cache import (
    cache_key,
    cached_file,
    default_cache_dir,
    read_verified,
    torch_version,
    write_verified,
)
from jdd_ros.inference.hashing import sha256_of

if TYPE_CHECKING:
    import torch

    from jdd_ros.depth.unet import DepthUNet

OPSET = 17
INPUT_NAME = 'image'
OUTPUT_NAME = 'depth'
# Bump when the cached export or its metadata file changes, so stale entries are not reused.
CACHE_FORMAT = 1


def export_module(module: torch.nn.Module, input_size: tuple[int, int], f: str | os.PathLike | io.BytesIO,
                  opset: int = OPSET, dynamic: bool = True) -> None:
    """Export any ``N,3,H,W -> N,1,H,W`` module (TorchScript-based exporter: needs no onnxscript)."""
    import torch

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


def cached_checkpoint_export(checkpoint: str | os.PathLike, input_size: tuple[int, int] | None = None, *,
                             sha256: str | None = None, require_trained: bool = True,
                             cache_dir: str | os.PathLike | None = None) -> tuple[Path, DepthModelMeta, Verified]:
    """(the ONNX export of ``checkpoint`` at ``input_size`` (default: its own), its metadata, {'sha256',
    'sha256_verified_against'}), from the export cache when valid.

    The checkpoint is sha256-verified first (against ``sha256`` or its ``.sha256`` file) and its digest keys both
    cached files: its metadata (JSON) and its export per input size, opset and torch version; each is used only while
    its own recorded sha256 matches. torch is imported only to fill a miss.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f'depth checkpoint {path} not found; {HOW_TO_TRAIN}')
    digest, verified_against = verify_sha256(path, sha256)
    directory = Path(cache_dir or default_cache_dir('onnx'))
    loaded: list[tuple[DepthUNet, DepthModelMeta]] = []  # the model and its metadata, once loaded for a miss

    def load() -> tuple[DepthUNet, DepthModelMeta]:
        if not loaded:
            model, meta, _ = load_checkpoint(path, require_trained=require_trained, sha256=digest)
            loaded.append((model, meta))
        return loaded[0]

    meta_file = directory / f'depth-meta-{cache_key([digest, f"format{CACHE_FORMAT}"])}.json'
    data = read_verified(meta_file)
    if data is None:
        meta = load()[1]
        write_verified(meta_file, json.dumps(meta.to_dict()).encode())
    else:
        meta = DepthModelMeta.from_dict(json.loads(data))
    check_meta(path, meta, require_trained)
    size = tuple(int(v) for v in (input_size or meta.input_size))
    key = cache_key([digest, f'{size[0]}x{size[1]}', f'opset{OPSET}', f'format{CACHE_FORMAT}', torch_version()])
    onnx_path = directory / f'depth-{meta.encoder}-{size[0]}x{size[1]}-{key}.onnx'
    cached_file(onnx_path, lambda tmp: export_module(load()[0], size, tmp))
    return onnx_path, meta, Verified(sha256=digest, sha256_verified_against=verified_against)

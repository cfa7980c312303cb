"""What the depth node and the offline tools need of a depth model, and the one function that builds it.

``DepthEstimator`` (a jdd_ros checkpoint or any ONNX depth model with its sidecar) is today's only implementation; a
new kind of depth model implements ``DepthModel`` and gets a branch in ``build_depth_model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from jdd_ros.depth.hints import QUICK_SYNTHETIC_MINUTES, QUICK_SYNTHETIC_TRAINING

if TYPE_CHECKING:  # for the annotations only: this module is imported before any model is loaded
    from jdd_ros.core.camera import CameraIntrinsics
    from jdd_ros.core.floor_scale import AppliedScale, FloorAligner
    from jdd_ros.core.ground import GroundGeometry
    from jdd_ros.depth.checkpoint import DepthModelMeta

NO_MODEL = (
    'depth_node needs a trained depth model: set checkpoint:=/path/depth.pt (a jdd_ros checkpoint: train one with '
    "'jdd-ros train-depth --nyu-csv data/nyu2_train.csv --out depth.pt', or for plumbing tests only "
    f"'{QUICK_SYNTHETIC_TRAINING}', {QUICK_SYNTHETIC_MINUTES}) or onnx_model:=/path/model.onnx with its sidecar "
    'model.yaml next to it (docs/depth-model.md explains how to export Depth Anything V2 and write the sidecar)')


@runtime_checkable
class DepthModel(Protocol):
    description: str  # one line for the start-up log
    backend: str  # 'torch', 'onnxruntime' or 'openvino'
    device: str  # where it runs: 'cpu', 'cuda:N'
    precision: str  # what the network computes in: 'fp32', 'bf16'
    backend_reason: str  # why this backend and precision (for the start-up log)
    input_size: tuple[int, int]  # network input (height, width)
    sha256: str  # of the model file
    sha256_verified_against: str  # '' when there was nothing to verify it against
    meta: DepthModelMeta  # what it was trained on, its depth range, its held-out metrics

    @property
    def is_metric(self) -> bool: ...

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 metres at the input's resolution; NaN where invalid."""
        ...

    def preprocess(self, image_rgb: np.ndarray) -> np.ndarray: ...

    def run_network(self, batch: np.ndarray) -> np.ndarray: ...

    def postprocess(self, raw: np.ndarray, shape: tuple[int, int]) -> np.ndarray: ...

    @property
    def needs_camera(self) -> bool:
        """Metres need the camera's intrinsics (and for alignment ground its mounting): ``postprocess_camera``."""
        ...

    def floor_aligner(self) -> FloorAligner | None:
        """The per-stream state of ``alignment: ground`` (one per camera), None for other models."""
        ...

    def postprocess_camera(self, raw: np.ndarray, shape: tuple[int, int], intrinsics: CameraIntrinsics | None,
                           geometry: GroundGeometry | None, aligner: FloorAligner | None,
                           stamp_s: float) -> tuple[np.ndarray, AppliedScale | None]: ...


class DepthModelParams(Protocol):
    """What ``build_depth_model`` reads of the depth node's parameters (``DepthNodeParams``; ``depth`` may not import
    the schema)."""

    checkpoint: str
    onnx_model: str
    input_height: int
    input_width: int
    model_sha256: str
    device: str
    backend: str
    precision: str
    threads: int


def build_depth_model(params: DepthModelParams, sidecar: str | None = None, *, require_metric: bool = True,
                      camera: bool = False) -> DepthModel:
    """The depth model the depth node's parameters (a DepthNodeParams, or anything with its attributes) ask for;
    ValueError / FileNotFoundError saying what to provide. ``camera``: the caller gives models that need the camera
    (``metric_focal``, ``alignment: ground``) their intrinsics and mounting (``postprocess_camera``)."""
    from jdd_ros.depth.estimator import DepthEstimator

    checkpoint, onnx_model = params.checkpoint, params.onnx_model
    if not checkpoint and not onnx_model:
        raise ValueError(NO_MODEL)
    if checkpoint and onnx_model:
        raise ValueError(f"set either checkpoint ('{checkpoint}') or onnx_model ('{onnx_model}'), not both")
    h, w = params.input_height, params.input_width
    if bool(h) != bool(w):
        raise ValueError(f'set both input_height and input_width (multiples of 32) or neither; got {h} and {w}')
    size = (h, w) if h else None
    sha = params.model_sha256 or None
    if checkpoint:
        return DepthEstimator.from_checkpoint(checkpoint, device=params.device, backend=params.backend,
                                              input_size=size, sha256=sha, threads=params.threads,
                                              precision=params.precision)
    estimator = DepthEstimator.from_onnx(onnx_model, sidecar, device=params.device, input_size=size, sha256=sha,
                                         threads=params.threads, backend=params.backend, precision=params.precision)
    if require_metric and estimator.needs_camera and not camera:
        raise ValueError(f'{onnx_model} needs the camera to give metres (output_kind {estimator.spec.output_kind}, '
                         f'alignment {estimator.spec.alignment}): its intrinsics and, for alignment ground, its '
                         'height, pitch and roll; depth_node takes them from camera_info and its parameters')
    if require_metric and not estimator.is_metric and not estimator.needs_camera:
        raise ValueError(f'{onnx_model} gives relative depth aligned per frame (alignment: reference), which '
                         'cannot be published as metres; calibrate its scale once (output_scale, and output_shift '
                         'for relative_inverse: predict_aligned gives them) and set alignment: fixed in its sidecar, '
                         'or use alignment: ground (docs/depth-model.md)')
    return estimator


SYNTHETIC_WARNING = ('!!! This depth model was trained on SYNTHETIC scenes only: its depth on real camera images is '
                     'NOT trustworthy. Use it for plumbing tests; train on NYU Depth v2 for real use. !!!')


def trust_warnings(model: DepthModel) -> list[str]:
    """Why the depth of a model that loaded may still not be trusted, one line each: trained on synthetic scenes
    only, or barely trained (held-out δ1 no better than the best constant depth on the same images, as a 2-epoch run
    gives). depth_node logs these and ``jdd-ros fuse``/``process`` print them: one check, so they cannot disagree."""
    meta = model.meta
    found = []
    if meta.trained_on == 'synthetic':
        found.append(SYNTHETIC_WARNING)
    metrics = meta.metrics
    delta1, constant = metrics.get('delta1'), metrics.get('constant_best_delta1')
    if isinstance(delta1, (int, float)) and isinstance(constant, (int, float)) and delta1 <= constant:
        found.append(f'!!! This depth model is BARELY TRAINED: held-out δ1 {delta1:.3f} after {meta.epochs} epoch(s) '
                     f'is no better than a constant depth on the same images (δ1 {constant:.3f}): its depth is NOT '
                     'trustworthy. Train it for more epochs or on more data (docs/depth-training.md). !!!')
    return found

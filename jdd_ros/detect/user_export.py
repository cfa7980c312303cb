"""What the families that run a user's own ONNX export (``ultralytics``, ``yolox``) share: the parameters they refuse
before loading, the export opened by the inference layer (file, sha256, backend, CUDA provider), its one image input
and one output, its input size, a batch run in the export's fixed batch size, and the class names the user gives.

Only the family's own knowledge stays in its subpackage: how its input is prepared and how its output is decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect.base import check_thresholds, class_mask, read_names
from jdd_ros.detect.letterbox import Letterbox
from jdd_ros.inference.devices import parse_device
from jdd_ros.inference.hashing import sha256_of, verify_sha256

if TYPE_CHECKING:
    from jdd_ros.inference.backends import BackendChoice
    from jdd_ros.inference.runner import Runner

# The export is an ONNX file: 'auto' is OpenVINO bf16 on CPUs with native bf16, ONNX Runtime everywhere else (CUDA too).
BACKENDS = ('auto', 'onnxruntime', 'openvino')
Names = str | Path | Sequence[str] | Mapping[int, str]  # a names file, a list, or {index: name}
INPUT_TYPES = {'tensor(float)': np.float32, 'tensor(float16)': np.float16}  # float16: an export with half=True


class ExportParams(Protocol):
    """The detector parameters these checks read (``detect.registry.DetectorParams`` has them)."""

    @property
    def cfg(self) -> str: ...
    @property
    def weights(self) -> str: ...
    @property
    def backend(self) -> str: ...


def check_backend(family: str, backend: str) -> str | None:
    """Why ``family`` cannot run its export on ``backend``, or None."""
    if backend == 'torch':
        return (f"backend 'torch' is not available for detector family '{family}': it runs the ONNX export with "
                "ONNX Runtime or OpenVINO; use backend 'auto', 'onnxruntime' or 'openvino'")
    if backend not in BACKENDS:
        return f"backend {backend!r}: detector family '{family}' runs on {' or '.join(BACKENDS)}"
    return None


def check_export_params(params: ExportParams, family: str, not_onnx: Mapping[str, str]) -> str | None:
    """Why ``params`` cannot describe an ONNX export of ``family``, found before anything is loaded: a cfg (Darknet),
    no weights, a weights file whose suffix ``not_onnx`` explains (a checkpoint to export first), the backend."""
    if params.cfg:
        return (f"detector family '{family}' takes no cfg (a Darknet file; given: {params.cfg}): give the ONNX "
                "export as weights, or use family 'darknet'")
    if not params.weights:
        return (f"detector family '{family}' needs weights: the path of the model's ONNX export "
                "(model names only the known Darknet models and is ignored by this family)")
    suffix = Path(params.weights).suffix.lower()
    if suffix in not_onnx:
        return f"detector family '{family}': weights {params.weights} is {not_onnx[suffix]}"
    return check_backend(family, params.backend)


def size_pair(input_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """None, n (square) or (height, width), all positive ints."""
    if input_size is None:
        return None
    values = [input_size] if isinstance(input_size, int) else list(input_size) \
        if isinstance(input_size, (tuple, list)) else None
    if not values or len(values) > 2 or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(f'input_size must be a positive int or (height, width), got {input_size!r}')
    return (values[0], values[-1])


def open_runner(path: Path, family: str, device: str, threads: int = 0, *, backend: str = 'auto',
                precision: str = 'auto', sha256: str | None = None) -> tuple[Runner, BackendChoice]:
    """The export opened by the inference layer on ``device``, and the backend choice. ValueError when the backend
    cannot read it as a model; RuntimeError when CUDA is asked for and cannot be used (rather than silently running
    on the CPU)."""
    from jdd_ros.inference.model_loading import open_model, resolve_onnx_backend

    choice = resolve_onnx_backend(backend, device, precision)
    try:
        runner, choice = open_model(path, device=device, choice=choice, threads=threads, onnx_sha256=sha256)
    except RuntimeError:
        raise
    except Exception as exc:  # onnxruntime's InvalidProtobuf, InvalidGraph, ... derive from Exception only
        name = 'OpenVINO' if choice.backend == 'openvino' else 'ONNX Runtime'
        raise ValueError(f'{path}: {name} cannot load it as a model ({exc}); family {family!r} takes an .onnx '
                         'export') from None
    if parse_device(device)[0] == 'cuda' and 'CUDAExecutionProvider' not in runner.providers:
        raise RuntimeError(f'device {device!r}: ONNX Runtime could not start its CUDA provider for {path}')
    return runner, choice


def resolve_input_size(path: Path, fixed: Sequence[int | None], requested: tuple[int, int] | None,
                       default: tuple[int, int] | None, stride: int, no_default: str = '') -> tuple[int, int]:
    """The network input (height, width): the export's fixed size (``requested`` must then be that size or None),
    else ``requested`` or ``default`` (a multiple of ``stride``, within the dimensions the export fixes);
    ``no_default`` says where a default would have come from."""
    if None not in fixed:
        if requested is not None and requested != tuple(fixed):
            raise ValueError(f'{path}: the model input is fixed at {fixed[0]}x{fixed[1]}; input_size '
                             f'{requested[0]}x{requested[1]} differs (re-export at that size, or leave '
                             'input_size unset)')
        return (int(fixed[0]), int(fixed[1]))
    size = requested or default
    if size is None:
        raise ValueError(f'{path}: the model input size is dynamic{no_default}: pass input_size')
    if any(f is not None and f != s for f, s in zip(fixed, size)):
        raise ValueError(f'{path}: input size {size[0]}x{size[1]} disagrees with the model input {list(fixed)}')
    if size[0] % stride or size[1] % stride:
        raise ValueError(f'{path}: input size {size[0]}x{size[1]} must be a multiple of the model stride {stride}')
    return size


def names_from_mapping(names: object, source: str) -> list[str]:
    """A names list from the forms exporters and users write: a dict {index: name} with indices 0..n-1
    (Ultralytics, recent YOLOv5) or a list (older YOLOv5)."""
    if isinstance(names, Mapping):
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise ValueError(f'{source}: class names have non-integer keys') from None
        if sorted(by_index) != list(range(len(by_index))):
            raise ValueError(f'{source}: class name indices must be 0..{len(by_index) - 1}, got '
                             f'{sorted(by_index)[:10]}')
        return [by_index[i] for i in range(len(by_index))]
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    raise ValueError(f'{source}: class names must be a dict or a list, got {type(names).__name__}')


def given_names(names: Names | None) -> tuple[list[str] | None, str]:
    """The class names the user gives (a names file, a list or {index: name}), if any, and where they come from (for
    messages)."""
    if isinstance(names, Mapping):
        return names_from_mapping(names, 'names'), 'names argument'
    if isinstance(names, (str, Path)):
        if not Path(names).expanduser().is_file():
            raise FileNotFoundError(f'names file {names} does not exist')
        return read_names(Path(names).expanduser()), f'names file {Path(names).name}'
    if names is not None:
        return read_names(names), 'names argument'
    return None, ''


class ExportDetector:
    """The part of a detector that runs a user's ONNX export and is the same for every such family: the file checked
    and opened, its image input and its one output checked, a batch run. A family subclasses it, calls ``_open``
    and ``_check_io`` from its constructor, and implements ``detect_batch``."""

    family = ''
    model_path: Path
    sha256: str
    device: str
    backend: str
    backend_reason: str
    _run: Runner
    _fixed_batch: int | None
    _input_dtype: type
    _output_shape: tuple[int, ...]
    class_names: list[str]

    def _open(self, model_path: str | Path, *, device: str, backend: str, precision: str, sha256: str | None,
              threads: int) -> Path:
        """Check the arguments and the file, then open it: sets model_path, sha256, device, backend (and its
        reason) and the runner; returns the path."""
        path = Path(model_path).expanduser()
        reason = check_backend(self.family, backend)
        if reason:
            raise ValueError(reason)
        parse_device(device)
        if not path.is_file():
            raise FileNotFoundError(f'{path}: no such model file (weights must be the .onnx export)')
        digest = verify_sha256(path, sha256)[0] if sha256 else None
        self.model_path = path
        self.sha256 = digest or sha256_of(path)  # of the model file: shown in /diagnostics
        self.device = device
        self._run, choice = open_runner(path, self.family, device, threads, backend=backend, precision=precision,
                                        sha256=digest)
        self.backend, self.backend_reason = choice.backend, choice.reason
        return path

    def _check_io(self, input_text: str, outputs_hint: str) -> None:
        """Refuse an export without exactly one float [N, 3, H, W] input (``input_text`` says what the family's
        exporter writes) and one output (``outputs_hint`` names the exports with more); sets the fixed batch size
        (None if dynamic) and the input's element type."""
        path, inputs = self.model_path, self._run.inputs
        if len(inputs) != 1:
            raise ValueError(f'{path}: {len(inputs)} inputs ({", ".join(i.name for i in inputs)}); expected one '
                             'image input')
        info = inputs[0]
        dtype = INPUT_TYPES.get(info.type)
        if dtype is None or len(info.shape) != 4 or info.shape[1] != 3:
            raise ValueError(f'{path}: input {info.name!r} {info.type} {list(info.shape)} is not an image input '
                             f'(expected float [N, 3, H, W]: {input_text})')
        self._fixed_batch, self._input_dtype = info.shape[0], dtype
        outputs = self._run.outputs
        if len(outputs) != 1:
            listed = ', '.join(f'{o.name} {o.shape}' for o in outputs)
            raise ValueError(f'{path}: {len(outputs)} outputs ({listed}); a detection export has one '
                             f'({outputs_hint})')

    @property
    def precision_text(self) -> str:
        """What the description says about the input precision: ' fp16' for an fp16 export."""
        return ' fp16' if self._input_dtype == np.float16 else ''

    def _precision(self) -> str:
        return 'fp16' if self.precision_text and self.backend == 'onnxruntime' else self._run.precision

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """The one output for a batch, run in chunks of the model's fixed batch size if it has one."""
        return run_in_batches(lambda chunk: self._run(chunk)[0], batch, self._fixed_batch)

    def detect_batch(self, images: Sequence[np.ndarray], conf_threshold: float = 0.25, nms_threshold: float = 0.45,
                     classes: Collection[str] | None = None) -> list[list[Detection]]:
        """Detections per image (HxWx3 uint8 RGB, any sizes), boxes in each image's own pixels (clipped), by score
        descending. ``classes``: names to keep (None or empty: all); a box whose best class is not one of them is
        dropped (as upstream)."""
        check_thresholds(conf_threshold, nms_threshold)
        mask = class_mask(self.class_names, [classes] if isinstance(classes, str) else classes)
        if len(images) == 0:
            return []
        batch, letterboxes = self._preprocess(images)
        output = self._infer(batch)
        if output.shape[1:] != self._output_shape:
            raise RuntimeError(f'{self.model_path}: output shape {output.shape} changed from {self._output_shape} '
                               'at start-up')
        return self._detections(output, letterboxes, conf_threshold, nms_threshold, mask)

    def _preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """The family's input batch and each image's letterbox."""
        raise NotImplementedError

    def _detections(self, output: np.ndarray, letterboxes: list[Letterbox], conf_threshold: float,
                    nms_threshold: float, mask: np.ndarray | None) -> list[list[Detection]]:
        """The family's decoding of the batch's output into each image's detections."""
        raise NotImplementedError

    def detect(self, image_rgb: np.ndarray, conf_threshold: float = 0.25, nms_threshold: float = 0.45,
               classes: Collection[str] | None = None) -> list[Detection]:
        """Detections in one HxWx3 uint8 RGB image, boxes in its pixels (clipped), by score descending."""
        return self.detect_batch([image_rgb], conf_threshold, nms_threshold, classes)[0]


def run_in_batches(run: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, size: int | None) -> np.ndarray:
    """``run`` over ``batch`` in chunks of ``size`` (None: dynamic, one call), the last chunk padded with zeros and
    the padding's rows dropped; float32."""
    if size is None or len(batch) == size:
        out = run(batch)
    else:
        parts = []
        for start in range(0, len(batch), size):
            chunk = batch[start:start + size]
            if len(chunk) < size:  # a fixed-batch model needs a full batch: pad, and drop the padding's rows
                chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            parts.append(run(chunk)[:len(batch) - start])
        out = np.concatenate(parts)
    return np.asarray(out).astype(np.float32, copy=False)

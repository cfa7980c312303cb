"""Object detection with the YOLO models users already have: ONNX exports by Ultralytics (YOLOv8, YOLO11, YOLOv10,
YOLO26, YOLOv5u ...) and by YOLOv5's export.py, with the same interface as the Darknet family's YoloDetector.

Running the model is the inference layer's job (``inference.model_loading.open_model``: ONNX Runtime or OpenVINO,
graph inputs/outputs, metadata, a call from a batch to the outputs); this module only checks what the export is, and
feeds the numpy stages (:mod:`.preprocess`, :mod:`.layout`, :mod:`.decode`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect.base import check_thresholds, class_mask, read_names
from jdd_ros.detect.ultralytics.decode import decode, postprocess
from jdd_ros.detect.ultralytics.layout import LAYOUT_SHAPES, LAYOUTS, layout_classes, resolve_layout
from jdd_ros.detect.ultralytics.metadata import ModelMetadata, names_from_mapping, parse_metadata
from jdd_ros.detect.ultralytics.preprocess import preprocess
from jdd_ros.inference.backends import BackendChoice
from jdd_ros.inference.devices import parse_device
from jdd_ros.inference.hashing import sha256_of, verify_sha256

if TYPE_CHECKING:
    from jdd_ros.inference.runner import Runner

FAMILY = 'ultralytics'
# The export is an ONNX file: 'auto' is OpenVINO bf16 on CPUs with native bf16, ONNX Runtime everywhere else (CUDA too).
BACKENDS = ('auto', 'onnxruntime', 'openvino')
Names = str | Path | Sequence[str] | Mapping[int, str]  # a names file, a list, or {index: name}
_INPUT_TYPES = {'tensor(float)': np.float32, 'tensor(float16)': np.float16}  # float16: an export with half=True
_OTHER_TASKS = ('segment', 'pose', 'obb', 'classify')


def check_backend(backend: str) -> str | None:
    """Why this family cannot run on ``backend``, or None."""
    if backend == 'torch':
        return (f"backend 'torch' is not available for detector family '{FAMILY}': it runs the ONNX export with "
                "ONNX Runtime or OpenVINO; use backend 'auto', 'onnxruntime' or 'openvino'")
    if backend not in BACKENDS:
        return f"backend {backend!r}: detector family '{FAMILY}' runs on {' or '.join(BACKENDS)}"
    return None


def _size_pair(input_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """None, n (square) or (height, width), all positive ints."""
    if input_size is None:
        return None
    values = [input_size] if isinstance(input_size, int) else list(input_size) \
        if isinstance(input_size, (tuple, list)) else None
    if not values or len(values) > 2 or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(f'input_size must be a positive int or (height, width), got {input_size!r}')
    return (values[0], values[-1])


def open_runner(path: Path, device: str, threads: int = 0, *, backend: str = 'auto', precision: str = 'auto',
                sha256: str | None = None) -> tuple[Runner, BackendChoice]:
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
        raise ValueError(f'{path}: {name} cannot load it as a model ({exc}); family {FAMILY!r} takes an .onnx '
                         'export') from None
    if parse_device(device)[0] == 'cuda' and 'CUDAExecutionProvider' not in runner.providers:
        raise RuntimeError(f'device {device!r}: ONNX Runtime could not start its CUDA provider for {path}')
    return runner, choice


def _check_metadata(meta: ModelMetadata, path: Path) -> None:
    """Refuse exports of another task or another architecture, named by their metadata."""
    if meta.task is not None and meta.task != 'detect':
        kind = 'a' if meta.task in _OTHER_TASKS else 'an unknown'
        raise ValueError(f"{path}: {kind} {meta.task!r} model (metadata task); only 'detect' models are "
                         'supported, the outputs of segment/pose/obb/classify models are laid out differently')
    if meta.head == 'RTDETRDecoder' or 'RT-DETR' in meta.description:
        raise ValueError(f'{path}: an RT-DETR model; its output (N, queries, 4 + classes, boxes as fractions '
                         'of the input) is not a YOLO layout and is not supported')
    if meta.channels not in (None, 3):
        raise ValueError(f'{path}: a {meta.channels}-channel model (metadata channels); expected RGB (3)')


class UltralyticsDetector:
    """A YOLO model exported to ONNX by Ultralytics or YOLOv5, ready to detect objects in RGB images.

    ``names``: a names file (one per line), a list or a dict {index: name}; by default the model's own metadata
    names, else 'class0'...
    ``input_size`` (n or (h, w)): the network input for a dynamic-shaped model (default: its metadata imgsz); a
    fixed-shaped model must be given its own size or none. ``layout``: 'auto' (from metadata and output shape),
    'v5', 'v8' or 'end2end' (see :mod:`.layout`). ``sha256``: refuse the file unless its digest is this one.
    ``backend``: 'auto', 'onnxruntime' or 'openvino' ('torch' is refused), ``precision`` 'auto', 'bf16' or 'fp32'
    (``jdd_ros.inference.backends.resolve_backend``). ``max_det``: detections kept per image at most (upstream's
    default).

    Models whose outputs fit no known detection layout, whose class names disagree with the output, that were
    exported for another task (segment, pose, obb, classify) or whose input is not an image are refused with a
    ValueError naming the file and the problem.
    """

    def __init__(self, model_path: str | Path, names: Names | None = None, *,
                 device: str = 'cpu', backend: str = 'auto', input_size: int | Sequence[int] | None = None,
                 layout: str = 'auto', sha256: str | None = None, max_det: int = 300, threads: int = 0,
                 precision: str = 'auto'):
        path = Path(model_path).expanduser()
        reason = check_backend(backend)
        if reason:
            raise ValueError(reason)
        if layout != 'auto' and layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: expected 'auto' or one of {', '.join(LAYOUTS)}")
        if isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1:
            raise ValueError(f'max_det must be a positive int, got {max_det!r}')
        requested_size = _size_pair(input_size)
        parse_device(device)
        if not path.is_file():
            raise FileNotFoundError(f'{path}: no such model file (weights must be the .onnx export)')
        digest = verify_sha256(path, sha256)[0] if sha256 else None
        self.model_path = path
        self.sha256 = digest or sha256_of(path)  # of the model file: shown in /diagnostics
        self.device = device
        self.max_det = max_det

        self._run, choice = open_runner(path, device, threads, backend=backend, precision=precision, sha256=digest)
        self.backend, self.backend_reason = choice.backend, choice.reason
        self.metadata: ModelMetadata = parse_metadata(self._run.metadata, str(path))
        _check_metadata(self.metadata, path)
        self._fixed_batch, self._input_dtype = self._check_input(path)
        outputs = self._run.outputs
        if len(outputs) != 1:
            listed = ', '.join(f'{o.name} {o.shape}' for o in outputs)
            raise ValueError(f'{path}: {len(outputs)} outputs ({listed}); a detection export has one '
                             '(a segmentation export has two, raw un-decoded heads one per level)')
        self.input_size = self._resolve_input_size(path, requested_size)
        class_names, names_origin = self._given_names(names)

        # One run at the chosen size: real output dimensions (symbolic in the graph for dynamic exports), and a
        # model that cannot run at this size fails here, at start-up, rather than on the first image.
        probe = self._infer(np.zeros((self._fixed_batch or 1, 3, *self.input_size), dtype=self._input_dtype))
        self._output_shape = probe.shape[1:]
        layout_origin = self._resolve_layout(path, probe, layout, class_names, names_origin)
        height, width = self.input_size
        half = ' fp16' if self._input_dtype == np.float16 else ''
        self.precision = 'fp16' if half and self.backend == 'onnxruntime' else self._run.precision
        about = f' - {self.metadata.description.strip()}' if self.metadata.description.strip() else ''
        self.description = (
            f'{path.name}: {self.layout} layout (from {layout_origin}), {self.num_classes} classes ({names_origin}), '
            f'input {height}x{width}{half}, batch {self._fixed_batch or "dynamic"}, {self.backend} {self.precision} '
            f'on {self.device}{about}')

    def _resolve_layout(self, path: Path, probe: np.ndarray, layout: str, class_names: list[str] | None,
                        names_origin: str) -> str:
        """Set ``layout``, ``num_classes`` and ``class_names`` from the start-up run's output; returns what decided
        the layout."""
        if probe.ndim != 3:
            raise ValueError(f'{path}: output shape {probe.shape} fits no known YOLO detection layout (expected '
                             + '; '.join(f'{k} {v}' for k, v in LAYOUT_SHAPES.items()) + ')')
        self.layout, layout_origin = resolve_layout(
            probe.shape, layout, self.metadata, num_names=None if class_names is None else len(class_names),
            input_hw=self.input_size, source=str(path))
        num_classes = layout_classes(self.layout, probe.shape)
        if num_classes is None:  # end2end: the class count is not in the shape
            if class_names is None:
                raise ValueError(f'{path}: an end-to-end output {probe.shape} does not tell the class count and '
                                 'the model has no metadata names: pass names')
            num_classes = len(class_names)
            seen = probe[..., 5][probe[..., 4] > 0]  # the start-up run's classes: a partial check of the names
            if seen.size and seen.max() >= num_classes:
                raise ValueError(f'{path}: {num_classes} class names ({names_origin}) but the end-to-end output '
                                 f'has class {int(seen.max())}')
        if num_classes < 1:
            raise ValueError(f'{path}: output shape {probe.shape} read as {self.layout} leaves no class scores')
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f'{path}: {len(class_names)} class names ({names_origin}) but the {self.layout} '
                             f'output {tuple(probe.shape)} has {num_classes} classes')
        self.class_names: list[str] = class_names or [f'class{i}' for i in range(num_classes)]
        self.num_classes = num_classes
        return layout_origin

    def _given_names(self, names: Names | None) -> tuple[list[str] | None, str]:
        """The class names the user or the model gives, if any, and where they come from (for messages)."""
        if isinstance(names, Mapping):
            return names_from_mapping(names, 'names'), 'names argument'
        if isinstance(names, (str, Path)):
            if not Path(names).expanduser().is_file():
                raise FileNotFoundError(f'names file {names} does not exist')
            return read_names(Path(names).expanduser()), f'names file {Path(names).name}'
        if names is not None:
            return read_names(names), 'names argument'
        if self.metadata.names is not None:
            return self.metadata.names, 'metadata names'
        return None, 'generated names'

    def _check_input(self, path: Path) -> tuple[int | None, type]:
        """The fixed batch size (None if dynamic) and element type of the one image input."""
        inputs = self._run.inputs
        if len(inputs) != 1:
            raise ValueError(f'{path}: {len(inputs)} inputs ({", ".join(i.name for i in inputs)}); expected one '
                             'image input')
        info = inputs[0]
        dtype = _INPUT_TYPES.get(info.type)
        if dtype is None or len(info.shape) != 4 or info.shape[1] != 3:
            raise ValueError(f'{path}: input {info.name!r} {info.type} {list(info.shape)} is not an image input '
                             '(expected float [N, 3, H, W]: RGB 0-1, as Ultralytics and YOLOv5 export)')
        return info.shape[0], dtype

    def _resolve_input_size(self, path: Path, requested: tuple[int, int] | None) -> tuple[int, int]:
        fixed = self._run.inputs[0].shape[2:]
        if None not in fixed:
            if requested is not None and requested != fixed:
                raise ValueError(f'{path}: the model input is fixed at {fixed[0]}x{fixed[1]}; input_size '
                                 f'{requested[0]}x{requested[1]} differs (re-export at that size, or leave '
                                 'input_size unset)')
            return (int(fixed[0]), int(fixed[1]))
        size = requested or self.metadata.imgsz
        if size is None:
            raise ValueError(f'{path}: the model input size is dynamic and there is no metadata imgsz: pass '
                             'input_size')
        if any(f is not None and f != s for f, s in zip(fixed, size)):
            raise ValueError(f'{path}: input size {size[0]}x{size[1]} disagrees with the model input {fixed}')
        stride = self.metadata.stride or 32
        if size[0] % stride or size[1] % stride:
            raise ValueError(f'{path}: input size {size[0]}x{size[1]} must be a multiple of the model stride '
                             f'{stride}')
        return size

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """The one output for a batch, run in chunks of the model's fixed batch size if it has one."""
        size = self._fixed_batch
        if size is None or len(batch) == size:
            out = self._run(batch)[0]
        else:
            parts = []
            for start in range(0, len(batch), size):
                chunk = batch[start:start + size]
                if len(chunk) < size:  # a fixed-batch model needs a full batch: pad, and drop the padding's rows
                    chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
                parts.append(self._run(chunk)[0][:len(batch) - start])
            out = np.concatenate(parts)
        return np.asarray(out).astype(np.float32, copy=False)

    def detect_batch(self, images: Sequence[np.ndarray], conf_threshold: float = 0.25, nms_threshold: float = 0.45,
                     classes: Collection[str] | None = None) -> list[list[Detection]]:
        """Detections per image (HxWx3 uint8 RGB, any sizes), boxes in each image's own pixels (clipped), by score
        descending. ``classes``: names to keep (None or empty: all); a box whose best class is not one of them is
        dropped (as upstream). ``nms_threshold`` does not apply to the end2end layout, whose NMS, if any, ran in
        the graph."""
        check_thresholds(conf_threshold, nms_threshold)
        mask = class_mask(self.class_names, [classes] if isinstance(classes, str) else classes)
        if len(images) == 0:
            return []
        batch, letterboxes = preprocess(images, self.input_size, self._input_dtype)
        output = self._infer(batch)
        if output.shape[1:] != self._output_shape:
            raise RuntimeError(f'{self.model_path}: output shape {output.shape} changed from {self._output_shape} '
                               'at start-up')
        candidates = decode(output, self.layout, conf_threshold, self.num_classes, mask)
        return postprocess(candidates, self.layout, letterboxes, nms_threshold, self.max_det, self.class_names)

    def detect(self, image_rgb: np.ndarray, conf_threshold: float = 0.25, nms_threshold: float = 0.45,
               classes: Collection[str] | None = None) -> list[Detection]:
        """Detections in one HxWx3 uint8 RGB image, boxes in its pixels (clipped), by score descending."""
        return self.detect_batch([image_rgb], conf_threshold, nms_threshold, classes)[0]

"""YOLO detection on RGB images with Darknet cfg/weights, on PyTorch or ONNX Runtime, CPU or CUDA."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ..backends import resolve_backend
from ..detection import Detection
from .model import DarknetModel, build_model
from .postprocess import select_detections


class ImageInputModel(nn.Module):
    """The Darknet network taking resized RGB uint8 images (N, H, W, 3): the /255 scaling and the NCHW view happen
    in the graph (on the GPU for CUDA, inside the ONNX model for ONNX Runtime), so only bytes are transferred."""

    def __init__(self, model: DarknetModel, dtype: torch.dtype = torch.float32,
                 memory_format: torch.memory_format = torch.contiguous_format):
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.memory_format = memory_format

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = images.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        return self.model(x.to(self.dtype, memory_format=self.memory_format))


def read_names(names: str | Path | Sequence[str]) -> list[str]:
    """Class names from a names file (one per line) or a list."""
    if isinstance(names, (str, Path)):
        lines = Path(names).read_text(encoding='utf-8').splitlines()
        return [line.strip() for line in lines if line.strip()]
    return [str(n) for n in names]


def parse_device(device: str) -> torch.device:
    """'cpu', 'cuda' or 'cuda:N', refused with a clear message when not usable here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type not in ('cpu', 'cuda'):
        raise ValueError(f"device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError(f'device {device!r} requested but this torch build/machine has no CUDA')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f'device {device!r}: only {torch.cuda.device_count()} CUDA device(s)')
    return dev


class _TorchRunner:
    def __init__(self, model: DarknetModel, device: torch.device, fp16: bool):
        dtype = torch.float16 if fp16 else torch.float32
        self.device = device
        # channels-last suits cuDNN's fp16 kernels; on CPU the contiguous layout measured faster (bench_detector.py).
        layout = torch.channels_last if device.type == 'cuda' else torch.contiguous_format
        self.net = ImageInputModel(model, dtype, layout).to(device=device, dtype=dtype, memory_format=layout).eval()

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            images = torch.from_numpy(batch).to(self.device, non_blocking=True)
            return [head.cpu().numpy() for head in self.net(images)]


class YoloDetector:
    """A Darknet YOLO model ready to detect objects in RGB images.

    ``cfg``/``weights`` are Darknet files (the weights' size is checked against the cfg), ``names`` a names file or
    a list. ``input_size`` (a multiple of 32) overrides the cfg's width/height. ``fp16`` defaults to True on CUDA.
    """

    def __init__(self, cfg: str | Path, weights: str | Path, names: str | Path | Sequence[str], *,
                 device: str = 'cpu', backend: str = 'auto', input_size: int | None = None,
                 fp16: bool | None = None):
        dev = parse_device(device)
        backend = resolve_backend(backend, str(dev))
        fp16 = dev.type == 'cuda' if fp16 is None else bool(fp16)
        if fp16 and dev.type != 'cuda':
            raise ValueError('fp16 inference needs a CUDA device')
        model = build_model(cfg, weights)
        if input_size is None:
            self.input_size = (model.config.height, model.config.width)
        else:
            if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size <= 0 \
                    or input_size % 32:
                raise ValueError(f'input_size must be a positive multiple of 32, got {input_size!r}')
            self.input_size = (input_size, input_size)
        self.class_names = read_names(names)
        if len(self.class_names) != model.num_classes:
            raise ValueError(f'{len(self.class_names)} class names but the cfg has {model.num_classes} classes')
        self.num_classes = model.num_classes
        self.device = str(dev)
        self.backend = backend
        self.fp16 = fp16
        if backend == 'torch':
            self._run = _TorchRunner(model, dev, fp16)
        else:
            from .onnx_backend import OnnxRuntimeRunner

            self._run = OnnxRuntimeRunner.from_model(model, self.input_size, dev, fp16, cfg=cfg, weights=weights)

    def _resize(self, image_rgb: np.ndarray) -> np.ndarray:
        """Darknet/OpenCV DNN preprocessing: plain bilinear resize to the network size (no letterbox)."""
        if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3 \
                or image_rgb.dtype != np.uint8 or image_rgb.shape[0] == 0 or image_rgb.shape[1] == 0:
            got = getattr(image_rgb, 'shape', None), getattr(image_rgb, 'dtype', type(image_rgb).__name__)
            raise ValueError(f'expected an HxWx3 uint8 RGB image, got shape {got[0]} dtype {got[1]}')
        height, width = self.input_size
        if image_rgb.shape[:2] == (height, width):
            return image_rgb
        return cv2.resize(image_rgb, (width, height), interpolation=cv2.INTER_LINEAR)

    def _class_mask(self, classes: Collection[str] | None) -> np.ndarray | None:
        if classes is None or len(classes) == 0:
            return None
        unknown = sorted(set(classes) - set(self.class_names))
        if unknown:
            raise ValueError(f'unknown class name(s) {unknown}; the model knows {len(self.class_names)} classes')
        wanted = set(classes)
        return np.array([name in wanted for name in self.class_names])

    def _infer(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Rows of all heads per image: (N, rows, 5 + classes)."""
        batch = np.stack([self._resize(image) for image in images])
        return self._run(batch)

    def raw_outputs(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """Each YOLO head's decoded output for one image, rows and columns as OpenCV DNN's yolo layer outputs them
        (before its class-score threshold)."""
        return [head[0] for head in self._infer([image_rgb])]

    def detect_batch(self, images: Sequence[np.ndarray], conf_threshold: float = 0.25, nms_threshold: float = 0.45,
                     classes: Collection[str] | None = None) -> list[list[Detection]]:
        """Detections per image, boxes in each image's own pixels, by score descending."""
        for name, value in (('conf_threshold', conf_threshold), ('nms_threshold', nms_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be within [0, 1], got {value}')
        if len(images) == 0:
            return []
        class_mask = self._class_mask(classes)
        heads = self._infer(images)
        rows = np.concatenate(heads, axis=1)
        results = []
        for image, image_rows in zip(images, rows):
            boxes, scores, class_ids = select_detections(image_rows, image.shape[:2], conf_threshold, nms_threshold,
                                                         class_mask)
            results.append([
                Detection(class_name=self.class_names[c], score=float(s), x1=float(b[0]), y1=float(b[1]),
                          x2=float(b[2]), y2=float(b[3]), class_id=int(c))
                for b, s, c in zip(boxes, scores, class_ids)])
        return results

    def detect(self, image_rgb: np.ndarray, conf_threshold: float = 0.25, nms_threshold: float = 0.45,
               classes: Collection[str] | None = None) -> list[Detection]:
        """Detections in one HxWx3 uint8 RGB image, boxes in its pixels (clipped), by score descending."""
        return self.detect_batch([image_rgb], conf_threshold, nms_threshold, classes)[0]

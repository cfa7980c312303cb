"""YOLO detection on RGB images with Darknet cfg/weights, on PyTorch, ONNX Runtime or OpenVINO, CPU or CUDA."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from jdd_ros.core.detection import Detection
from jdd_ros.detect.base import check_rgb_image, check_thresholds, class_mask, read_names, to_detections
from jdd_ros.detect.darknet.model import DarknetModel, ImageInputModel, build_model
from jdd_ros.detect.postprocess import select_detections
from jdd_ros.inference.backends import resolve_backend
from jdd_ros.inference.devices import torch_device


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
    a list. ``input_size`` (a multiple of 32) overrides the cfg's width/height. ``backend`` and ``precision``: see
    ``jdd_ros.inference.backends.resolve_backend`` ('auto': OpenVINO bf16 on CPUs with native bf16, ONNX Runtime fp32
    on other CPUs, torch on CUDA); ``fp16`` defaults to True on CUDA unless precision is 'fp32'. ``threads``: the
    ONNX backends' inference threads (0: the cores this process may use).
    """

    def __init__(self, cfg: str | Path, weights: str | Path, names: str | Path | Sequence[str], *,
                 device: str = 'cpu', backend: str = 'auto', precision: str = 'auto', input_size: int | None = None,
                 fp16: bool | None = None, threads: int = 0):
        dev = torch_device(device)
        choice = resolve_backend(backend, str(dev), precision)
        backend = choice.backend
        fp16 = dev.type == 'cuda' and choice.precision != 'fp32' if fp16 is None else bool(fp16)
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
        self.backend_reason = choice.reason
        self.fp16 = fp16
        self.precision = 'fp16' if fp16 else 'fp32'
        where = self.device
        if backend == 'torch':
            self._run = _TorchRunner(model, dev, fp16)
        else:
            from jdd_ros.detect.darknet.onnx_export import cached_export
            from jdd_ros.inference.export_cache import recorded_digest
            from jdd_ros.inference.runtime import open_model

            onnx_path = cached_export(model, self.input_size, cfg=cfg, weights=weights, fp16=fp16,
                                      device=dev if fp16 else 'cpu')
            self._run, _ = open_model(onnx_path, device=self.device, choice=choice, threads=threads,
                                      onnx_sha256=recorded_digest(onnx_path))
            self.precision = 'fp16' if fp16 else self._run.precision
            where += f', {self._run.threads} thread{"s" if self._run.threads != 1 else ""}'
        height, width = self.input_size
        self.description = (f'{Path(weights).name} (Darknet {Path(cfg).name}, {self.num_classes} classes, input '
                            f'{width}x{height}) on {backend} {self.precision} ({where})')

    def _resize(self, image_rgb: np.ndarray) -> np.ndarray:
        """Darknet/OpenCV DNN preprocessing: plain bilinear resize to the network size (no letterbox)."""
        check_rgb_image(image_rgb)
        height, width = self.input_size
        if image_rgb.shape[:2] == (height, width):
            return image_rgb
        return cv2.resize(image_rgb, (width, height), interpolation=cv2.INTER_LINEAR)

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
        check_thresholds(conf_threshold, nms_threshold)
        if len(images) == 0:
            return []
        mask = class_mask(self.class_names, classes)
        heads = self._infer(images)
        rows = np.concatenate(heads, axis=1)
        results = []
        for image, image_rows in zip(images, rows):
            selected = select_detections(image_rows, image.shape[:2], conf_threshold, nms_threshold, mask)
            results.append(to_detections(*selected, self.class_names))
        return results

    def detect(self, image_rgb: np.ndarray, conf_threshold: float = 0.25, nms_threshold: float = 0.45,
               classes: Collection[str] | None = None) -> list[Detection]:
        """Detections in one HxWx3 uint8 RGB image, boxes in its pixels (clipped), by score descending."""
        return self.detect_batch([image_rgb], conf_threshold, nms_threshold, classes)[0]

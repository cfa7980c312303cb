"""YOLO detection on RGB images with Darknet cfg/weights, on PyTorch, ONNX Runtime or OpenVINO, CPU or CUDA.

On the ONNX backends torch is imported only to export the model on a cache miss (``onnx_export.cached_export``): with
a warm cache a detector is built from the cfg and the cached, digest-checked ONNX / compiled model alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect.base import check_rgb_image, check_thresholds, class_mask, read_names, to_detections
from jdd_ros.detect.darknet.cfg import parse_cfg
from jdd_ros.detect.postprocess import select_detections
from jdd_ros.inference.backends import resolve_backend
from jdd_ros.inference.devices import is_cuda, torch_device
from jdd_ros.inference.hashing import sha256_of

if TYPE_CHECKING:
    import torch

    from jdd_ros.detect.darknet.cfg import DarknetConfig
    from jdd_ros.detect.darknet.network import DarknetModel
    from jdd_ros.inference.backends import BackendChoice
    from jdd_ros.inference.openvino import Calibration
    from jdd_ros.inference.runner import Runner


# Measured (test/test_int8.py): yolov4-tiny 416 in int8 (NNCF, calibrated on the package's synthetic scenes, first
# and head convolutions in float) against fp32 on the real photos: scores moved by up to ~0.07-0.09 and detections near
# the threshold came and went (the bound is every fp32 detection matched at IoU >= 0.9, same class, score within
# 0.05), so 'auto' keeps bf16 / fp32 for Darknet models; precision int8 runs it when asked for. Other recipes, scored
# with near-threshold detections matched at a 0.05 lower threshold: full bias correction 0.069; 320 calibration
# scenes 0.074; the two 3x3 convolutions before the heads also in float 0.058; the first 3 or 5 convolutions in float
# (the most sensitive ones measured on other synthetic scenes, one layer at a time) 0.069 / 0.063; mean-of-minmax
# ranges 0.14. The error moves between photos rather than shrinking: int8 noise, not one bad layer. On natural photos
# the parity test does not use (docs/detector-models.md), the first 5 / 6 / 8 convolutions and the two before the
# heads in float: 0.051 / 0.044 / 0.053, worst IoU 0.76 / 0.88 / 0.76; the first 8 passed on the parity photos (0.032)
# only by chance, so no recipe is tuned to them.
DARKNET_INT8_KEEPS_DETECTIONS = False


def _check_input_size(input_size: int | None, cfg_hw: tuple[int, int]) -> tuple[int, int]:
    if input_size is None:
        return cfg_hw
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size <= 0 or input_size % 32:
        raise ValueError(f'input_size must be a positive multiple of 32, got {input_size!r}')
    return input_size, input_size


def _torch_formats(precision: str, cuda: bool) -> tuple[torch.dtype, torch.memory_format]:
    """The dtype and memory format the network computes in on backend torch."""
    import torch

    dtype = torch.float16 if precision == 'fp16' else torch.float32
    return dtype, torch.channels_last if cuda else torch.contiguous_format


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
        cuda = is_cuda(device)  # ValueError for a device that is not 'cpu', 'cuda' or 'cuda:N'
        if cuda:
            device = str(torch_device(device))  # refused here when this machine has no CUDA
        choice = resolve_backend(backend, device, precision, int8_parity=DARKNET_INT8_KEEPS_DETECTIONS)
        fp16 = cuda and choice.precision != 'fp32' if fp16 is None else bool(fp16)
        if fp16 and not cuda:
            raise ValueError('fp16 inference needs a CUDA device')
        config = parse_cfg(cfg)
        self.input_size = _check_input_size(input_size, (config.height, config.width))
        self.class_names = read_names(names)
        self.sha256 = sha256_of(weights)  # of the weights it is built from: shown in /diagnostics
        self.device = device
        self.backend = choice.backend
        self.backend_reason = choice.reason
        self.fp16 = fp16
        if choice.backend == 'torch':
            self._run, num_classes = self._open_on_torch(config, weights)
        else:
            self._run = self._open_export(config, cfg, weights, choice, threads)
            num_classes = config.num_classes  # the cached export was built from this very cfg (its sha256 is keyed)
        self.precision = 'fp16' if fp16 else self._run.precision  # an fp16 export computes in fp16 on any backend
        threads_used = self._run.threads
        where = self.device + (f', {threads_used} thread{"s" if threads_used != 1 else ""}' if threads_used else '')
        if len(self.class_names) != num_classes:
            raise ValueError(f'{len(self.class_names)} class names but the cfg has {num_classes} classes')
        self.num_classes = num_classes
        height, width = self.input_size
        self.description = (f'{Path(weights).name} (Darknet {Path(cfg).name}, {self.num_classes} classes, input '
                            f'{width}x{height}) on {self.backend} {self.precision} ({where})')

    def _open_on_torch(self, config: DarknetConfig, weights: str | Path) -> tuple[Runner, int]:
        """Backend torch: the network built from the cfg and weights (their sizes checked against each other), in
        channels-last layout on CUDA (cuDNN's fp16 kernels; on the CPU contiguous measured faster, bench_detector.py);
        the runner and the class count."""
        from jdd_ros.detect.darknet.network import ImageInputModel, build_model, torch_interface
        from jdd_ros.inference.model_loading import open_torch_module

        model = build_model(config, weights)
        precision = 'fp16' if self.fp16 else 'fp32'
        net = ImageInputModel(model, *_torch_formats(precision, is_cuda(self.device)))
        inputs, outputs = torch_interface(model, self.input_size)
        runner = open_torch_module(net, device=self.device, precision=precision, channels_last=is_cuda(self.device),
                                   inputs=inputs, outputs=outputs)
        return runner, model.num_classes

    def _open_export(self, config: DarknetConfig, cfg: str | Path, weights: str | Path, choice: BackendChoice,
                     threads: int) -> Runner:
        """The ONNX backends: the network's export (from the export cache, keyed by the cfg's and weights' sha256;
        torch builds and exports it only on a miss) opened by the inference layer."""
        from jdd_ros.detect.darknet.onnx_export import cached_export
        from jdd_ros.inference.export_cache import recorded_digest
        from jdd_ros.inference.model_loading import open_model

        def build() -> DarknetModel:  # only on a cache miss: the weights' size is checked against the cfg here
            from jdd_ros.detect.darknet.network import build_model

            return build_model(config, weights)

        onnx_path = cached_export(build, self.input_size, cfg=cfg, weights=weights, fp16=self.fp16,
                                  device=self.device if self.fp16 else 'cpu')
        calibration = self._int8_calibration(config) if choice.precision == 'int8' else None
        runner, _ = open_model(onnx_path, device=self.device, choice=choice, threads=threads,
                               onnx_sha256=recorded_digest(onnx_path), calibration=calibration)
        return runner

    def _int8_calibration(self, config: DarknetConfig) -> Calibration:
        """The package's synthetic scenes, resized as frames are, for NNCF; the first convolution and the one before
        each [yolo] layer stay in float (the ones whose int8 error moved scores on the real photos most)."""
        from jdd_ros.depth.calibration import CALIBRATION_NAME, calibration_images
        from jdd_ros.inference.openvino import Calibration

        convs = [layer.index for layer in config.layers if layer.type == 'convolutional']
        heads = [layer.index - 1 for layer in config.layers if layer.type == 'yolo' and layer.index - 1 in convs]
        keep = tuple(rf'.*/modules_by_layer\.{i}/.*' for i in [convs[0], *heads])
        width = self.input_size[1]
        return Calibration(f'{CALIBRATION_NAME}-darknet-v1', lambda: (self._resize(rgb)[None] for rgb in
                                                                      calibration_images(width)), keep)

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

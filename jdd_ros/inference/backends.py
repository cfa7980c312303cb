"""Which inference backend runs a model, in which precision. The defaults, backend 'auto' and precision 'auto', pick
the fastest exact-enough choice measured for the device (README, Speed):

* a model measured to keep its detections in int8 (the family says so: ``int8_parity``), on a CPU that computes int8
  natively (VNNI or AMX-INT8) with the openvino package: **openvino int8** (NNCF post-training quantisation,
  calibrated on the package's synthetic scenes; parity tests on real photos: ``test/test_int8.py``).
* CPU with native bf16 (AVX512_BF16 or AMX) and the openvino package: **openvino bf16**, ~2x ONNX Runtime fp32 for
  yolov4-tiny and the depth U-Net, with detections within IoU 0.9 / score 0.03 of OpenCV DNN (parity tests).
* any other CPU: **onnxruntime fp32** (OpenVINO fp32 measured on par with it; bf16 would be emulated, slower).
* CUDA: **torch** (Darknet in fp16; no onnxruntime-gpu needed).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from jdd_ros.inference.devices import is_cuda

BACKENDS = ('auto', 'torch', 'onnxruntime', 'openvino')
PRECISIONS = ('auto', 'bf16', 'fp32', 'int8')
OPENVINO_HINT = 'pip install openvino==2026.4.1'
NNCF_HINT = 'pip install nncf==3.4.0'


@dataclass(frozen=True)
class BackendChoice:
    """The backend and precision that will run, and why (one clause for the start-up log)."""

    backend: str  # 'torch' | 'onnxruntime' | 'openvino'
    precision: str  # 'int8' | 'bf16' | 'fp32' | 'auto' (CUDA: the model's default, fp16 for Darknet on torch)
    reason: str

    def __str__(self) -> str:
        precision = 'default precision' if self.precision == 'auto' else self.precision
        return f'{self.backend} {precision}'


def _has(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: a module whose import was blocked (sys.modules[name] = None)
        return False


def _native_bf16() -> tuple[bool, str]:
    from jdd_ros.inference.openvino import cpu_isa, cpu_supports_bf16

    return cpu_supports_bf16(), cpu_isa()


def _native_int8() -> tuple[bool, str]:
    from jdd_ros.inference.openvino import cpu_int8_isa, cpu_supports_int8

    return cpu_supports_int8(), cpu_int8_isa()


def resolve_backend(backend: str, device: str, precision: str = 'auto', int8_parity: bool = False) -> BackendChoice:
    """The choice for ``backend`` and ``precision`` on ``device``; ValueError with the reason for a combination
    that cannot run as asked (bf16 or int8 on a CPU without native support is refused, never emulated or silently
    fp32). ``int8_parity``: the model was measured to keep its detections in int8 (only then may 'auto' pick it)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if is_cuda(device):
        return _on_cuda(backend, device, precision)
    if precision == 'int8':
        return _int8(backend)
    if int8_parity and precision == 'auto' and (int8 := _auto_int8(backend)):
        return int8
    if backend == 'openvino' or (backend == 'auto' and precision == 'bf16'):
        return _openvino(backend, precision)
    if precision == 'bf16':
        raise ValueError(f"precision bf16 runs on backend openvino (or auto), not {backend}; {backend} computes in "
                         'fp32 here')
    if backend != 'auto':
        return BackendChoice(backend, 'fp32', f'backend {backend} asked for')
    return _auto_on_cpu(precision)


def _auto_on_cpu(precision: str) -> BackendChoice:
    """Backend auto on the CPU with precision 'auto' or 'fp32': OpenVINO bf16 where native, else ONNX Runtime."""
    if precision == 'auto' and _has('openvino'):
        native, isa = _native_bf16()
        if native:
            return BackendChoice('openvino', 'bf16', f'this CPU computes bf16 natively ({isa}): OpenVINO bf16 '
                                 'measured ~2x ONNX Runtime fp32')
        why = f'this CPU ({isa}) has no native bf16, and OpenVINO fp32 measured on par with ONNX Runtime'
    elif precision == 'fp32':
        why = 'precision fp32 asked for (OpenVINO fp32 measured on par with ONNX Runtime)'
    else:
        why = f'the openvino package is not installed ({OPENVINO_HINT} for bf16 on CPUs that have it)'
    if not _has('onnxruntime'):
        if _has('openvino'):
            return BackendChoice('openvino', 'fp32', 'onnxruntime is not installed')
        return BackendChoice('torch', 'fp32', 'neither onnxruntime nor openvino is installed')
    return BackendChoice('onnxruntime', 'fp32', why)


def _auto_int8(backend: str) -> BackendChoice | None:
    """OpenVINO int8 for a model that keeps its results in int8, where the CPU computes int8 natively; else None."""
    if backend not in ('auto', 'openvino') or not _has('openvino'):
        return None
    native, isa = _native_int8()
    if not native:
        return None
    return BackendChoice('openvino', 'int8', f'this model keeps its detections in int8 (measured) and this CPU '
                         f'computes int8 natively ({isa}): OpenVINO int8')


def _int8(backend: str) -> BackendChoice:
    if backend not in ('auto', 'openvino'):
        raise ValueError(f'precision int8 runs on backend openvino (or auto), not {backend}')
    if not _has('openvino'):
        raise ValueError(f"precision int8 needs the 'openvino' package ({OPENVINO_HINT})")
    native, isa = _native_int8()
    if not native:
        raise ValueError(f'precision int8: this CPU ({isa}) has no int8 dot-product instructions (AVX512_VNNI, '
                         'AVX_VNNI or AMX-INT8), where int8 runs no faster than fp32; use precision auto, bf16 or '
                         'fp32')
    return BackendChoice('openvino', 'int8', f'precision int8 asked for; this CPU computes int8 natively ({isa})')


def _openvino(backend: str, precision: str) -> BackendChoice:
    if not _has('openvino'):
        asked = 'backend openvino' if backend == 'openvino' else 'precision bf16'
        raise ValueError(f"{asked} needs the 'openvino' package ({OPENVINO_HINT})")
    native, isa = _native_bf16()
    if precision == 'bf16' and not native:
        raise ValueError(f'precision bf16: this CPU ({isa}) has no native bf16 (AVX512_BF16 or AMX), where OpenVINO '
                         'would emulate it or silently run fp32; use precision fp32 or auto')
    if precision == 'fp32' or not native:
        why = 'precision fp32 asked for' if precision == 'fp32' else f'this CPU ({isa}) has no native bf16'
        return BackendChoice('openvino', 'fp32', f'backend openvino; {why}')
    asked = 'precision bf16 asked for' if precision == 'bf16' else 'backend openvino asked for'
    return BackendChoice('openvino', 'bf16', f'{asked}; this CPU computes bf16 natively ({isa})')


def _on_cuda(backend: str, device: str, precision: str) -> BackendChoice:
    if backend == 'openvino':
        raise ValueError(f"backend openvino runs on the CPU only, not on {device}; use device cpu, or backend auto "
                         '(torch on CUDA)')
    if precision in ('bf16', 'int8'):
        raise ValueError(f'precision {precision} is for CPUs with native {precision} (backend openvino); on {device} '
                         'use precision auto (fp16 for Darknet models on torch) or fp32')
    if backend == 'auto':
        return BackendChoice('torch', precision, 'torch on CUDA (fp16, no onnxruntime-gpu needed)')
    return BackendChoice(backend, precision, f'backend {backend} asked for')

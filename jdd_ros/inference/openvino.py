"""OpenVINO inference of ONNX models on the CPU, in bf16 where the CPU computes bf16 natively, else fp32; in int8
(NNCF post-training quantisation) where asked for or where the model keeps its detections in int8 on a CPU with
VNNI / AMX-INT8.

Why (measured on the build machine, an AVX512_BF16 CPU without AMX: README, Speed): OpenVINO bf16 runs yolov4-tiny
and the depth U-Net ~2x faster than ONNX Runtime fp32, with detections within IoU 0.99 / score 0.02 of OpenCV DNN's
and depth within ~0.2 % (median) of fp32; in fp32 OpenVINO and ONNX Runtime are on par. OpenVINO *defaults* to bf16
on such CPUs, so the precision is always set explicitly and read back after compiling.

The runner has ``OnnxRuntimeRunner``'s contract (``jdd_ros.inference.runner.Runner``): called with the first input's
batch as the ONNX declares it, it returns the outputs in the ONNX's order; ``inputs``, ``outputs`` and ``metadata``
describe the ONNX as declared. Compiled models are cached (``cache_dir``), sha256-checked like the ONNX exports;
quantised ones too, under a key that also names the calibration set and NNCF's version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from jdd_ros.inference.export_cache import cache_key, read_verified, write_verified
from jdd_ros.inference.hashing import sha256_of
from jdd_ros.inference.runner import FixedInterface, TensorInfo

if TYPE_CHECKING:
    import openvino as ov


class Interface(TypedDict):
    """A model's graph as its ONNX declares it, before OpenVINO fixes shapes: [name, shape, type] per input and
    output (``TensorInfo``'s fields; lists once read back from a compiled model's cache file, JSON) and the ONNX's
    metadata_props."""

    inputs: list[tuple[str, list[int | None], str]]
    outputs: list[tuple[str, list[int | None], str]]
    metadata: dict[str, str]


CompileConfig = dict[str, str | int | bool]  # OpenVINO's compile properties
CompileOnnx = Callable[[], 'tuple[ov.CompiledModel, Interface]']  # read, fix, quantise and compile the ONNX

PIN = '2026.4.1'  # the version measured (requirements.txt pins it)
NNCF_PIN = '3.4.0'
# OpenVINO's inference precision per precision of ours; int8: the quantised layers run in int8, the rest in f32.
_OV_PRECISION = {'bf16': 'bf16', 'fp32': 'f32', 'int8': 'f32'}
# ONNX Runtime's spelling of element types, which the families read (TensorInfo.type).
_TYPE_NAMES = {'f32': 'tensor(float)', 'f16': 'tensor(float16)', 'bf16': 'tensor(bfloat16)', 'f64': 'tensor(double)',
               'u8': 'tensor(uint8)', 'i8': 'tensor(int8)', 'i32': 'tensor(int32)', 'i64': 'tensor(int64)',
               'boolean': 'tensor(bool)'}
# Bump when the cache file's layout or the compile settings below change, so stale compiled models are not reused.
CACHE_FORMAT = 1
_MAGIC = b'JDDOV1\n'


def openvino_version() -> str | None:
    """The installed OpenVINO's version (build number included), or None when the package is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return None
    return ov.__version__


def _cpu_flags() -> set[str] | None:
    """The kernel's CPU flags (Linux); None where /proc/cpuinfo cannot be read."""
    try:
        with open('/proc/cpuinfo', encoding='ascii', errors='replace') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def cpu_isa() -> str:
    """The widest instruction set for float inference here, as the logs and the cache key name it."""
    flags = _cpu_flags() or set()
    for flag, name in (('amx_bf16', 'AMX'), ('avx512_bf16', 'AVX512_BF16'), ('avx512f', 'AVX-512'),
                       ('avx2', 'AVX2')):
        if flag in flags:
            return name
    return 'unknown ISA'


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512_BF16: Cooper Lake, Zen 4 and later; AMX: Sapphire Rapids
    and later) and OpenVINO can use it. False without the openvino package.

    Asked at run time, never assumed: OpenVINO lists 'BF16' in the CPU's OPTIMIZATION_CAPABILITIES for AVX512_BF16
    and also for AVX2-VNNI-2 chips, which only convert bf16 (no bf16 arithmetic), so on Linux the kernel's flags must
    show avx512_bf16 or amx_bf16 too; elsewhere OpenVINO's own default precision decides (bf16 exactly there).
    """
    try:
        import openvino as ov
    except ImportError:
        return False
    core = ov.Core()
    if 'BF16' not in core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES'):
        return False
    flags = _cpu_flags()
    if flags is not None:
        return bool(flags & {'avx512_bf16', 'amx_bf16'})
    return core.get_property('CPU', 'INFERENCE_PRECISION_HINT').get_type_name() == 'bf16'


_INT8_FLAGS = (('amx_int8', 'AMX-INT8'), ('avx512_vnni', 'AVX512_VNNI'), ('avx_vnni', 'AVX_VNNI'))


@functools.lru_cache(maxsize=1)
def cpu_int8_isa() -> str:
    """The int8 dot-product instructions of this CPU as the logs name them, or the widest float ISA without them."""
    flags = _cpu_flags() or set()
    for flag, name in _INT8_FLAGS:
        if flag in flags:
            return name
    return cpu_isa()


@functools.lru_cache(maxsize=1)
def cpu_supports_int8() -> bool:
    """True when this CPU has int8 dot-product instructions (AVX512_VNNI, AVX_VNNI or AMX-INT8), where quantised
    convolutions run faster than float ones, and OpenVINO lists INT8 among its CPU capabilities. Read from the
    kernel's flags at run time (False where they cannot be read: OpenVINO lists INT8 on CPUs without VNNI too)."""
    flags = _cpu_flags()
    if not flags or not flags & {flag for flag, _ in _INT8_FLAGS}:
        return False
    try:
        import openvino as ov
    except ImportError:
        return False
    return 'INT8' in ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')


_FLOAT_TYPES = ('Add', 'Subtract', 'Multiply', 'Divide', 'Power', 'Exp', 'Sigmoid', 'Concat', 'Interpolate', 'MVN',
                'ReduceMean', 'SquaredDifference', 'Maximum', 'Minimum', 'Clamp')


@dataclass(frozen=True)
class Calibration:
    """Inputs for post-training quantisation: ``batches()`` gives the model's first input as it is run (batches of
    one, preprocessed like real frames); ``name`` identifies the set and the recipe in the cache key (change it
    when either changes)."""

    name: str
    batches: Callable[[], Iterable[np.ndarray]]
    keep_float: tuple[str, ...] = ()  # regular expressions of layer names left in float (the most sensitive ones)


def quantize_int8(model: ov.Model, calibration: Calibration) -> ov.Model:
    """``model`` (an OpenVINO model) with its convolutions and matrix products quantised to int8 by NNCF,
    activation ranges from ``calibration``. The decoding after the last convolutions stays in float."""
    try:
        import nncf
    except ImportError:
        raise RuntimeError(f"precision int8 needs the 'nncf' package to quantise the model once (pip install "
                           f'nncf=={NNCF_PIN}); or use precision auto, bf16 or fp32') from None
    import contextlib
    import io
    import logging

    nncf.set_log_level(logging.WARNING)  # its info lines are not for a node's log
    data = list(calibration.batches())
    # Only the convolutions and matrix products: element-wise operations quantised with the ranges of the calibration
    # images saturate on real ones (measured: yolov4-tiny's decoding, sigmoid(objectness) x sigmoid(class), then
    # clipped every score near 0.28).
    ignored = nncf.IgnoredScope(types=list(_FLOAT_TYPES), patterns=list(calibration.keep_float), validate=False)
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    # Activation ranges from the minimum and maximum seen (not their means over the images): the calibration scenes
    # are not the camera's, and a clipped activation moved yolov4-tiny's scores more than a coarser step (measured).
    advanced = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    with contextlib.redirect_stdout(io.StringIO()):  # nor its progress bars (rich, on stdout)
        return nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED,
                             subset_size=len(data), ignored_scope=ignored, advanced_parameters=advanced)


def nncf_version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version('nncf')
    except importlib.metadata.PackageNotFoundError:
        return ''


def int8_layer_count(compiled: ov.CompiledModel) -> int:
    """How many layers of the compiled model really run in int8 (OpenVINO runs a quantised layer in float where the
    CPU lacks the instructions, without saying so)."""
    count = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if 'runtimePrecision' in info and 'layerType' in info:
            precision, kind = str(info['runtimePrecision'].astype(str)), str(info['layerType'].astype(str))
            count += precision.lower() in ('i8', 'u8') and kind in ('Convolution', 'FullyConnected', 'MatMul')
    return count


_BINDINGS_READY = False
_BINDINGS_LOCK = threading.Lock()


def _init_bindings() -> None:
    """One inference of a 1-op model, once per process, before any runner is used.

    openvino 2026.4.1's Python bindings set up their numpy glue lazily on the first inference; two threads making
    their first inference at the same moment can deadlock the whole process there (one waits for the GIL inside that
    set-up, the other holds the GIL waiting for the set-up: reproduced 4 times in 8 with 8 threads, 0 in 20 after
    this warm-up). The pipeline's depth and detector threads would do exactly that on their first frame.
    """
    global _BINDINGS_READY
    with _BINDINGS_LOCK:
        if _BINDINGS_READY:
            return
        import openvino as ov

        param = ov.opset13.parameter([1], ov.Type.f32)
        tiny = ov.Model([ov.opset13.relu(param)], [param], 'warmup')
        ov.Core().compile_model(tiny, 'CPU').create_infer_request().infer({0: np.zeros(1, np.float32)})
        _BINDINGS_READY = True


def _tensor_infos(ports: Sequence[ov.Output]) -> list[TensorInfo]:
    infos = []
    for port in ports:
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        kind = port.get_element_type().get_type_name()
        infos.append(TensorInfo(port.get_any_name(), shape, _TYPE_NAMES.get(kind, f'tensor({kind})')))
    return infos


def _metadata(model: ov.Model) -> dict[str, str]:
    """The ONNX's metadata_props, which OpenVINO's ONNX reader keeps in the model's rt_info under 'framework'."""
    if not model.has_rt_info(['framework']):
        return {}
    return {str(k): v.astype(str) if hasattr(v, 'astype') else str(v)
            for k, v in dict(model.get_rt_info()['framework']).items()}


def _interface(model: ov.Model) -> Interface:
    return {'inputs': [(t.name, list(t.shape), t.type) for t in _tensor_infos(model.inputs)],
            'outputs': [(t.name, list(t.shape), t.type) for t in _tensor_infos(model.outputs)],
            'metadata': _metadata(model)}


def _fix_shape(model: ov.Model, input_shape: Sequence[int | None] | None) -> None:
    """Fix the first input's dynamic dimensions: the batch to 1 (static batch 1 measured 2-5 % faster than dynamic;
    larger batches run image by image), others to ``input_shape``'s values where given."""
    shape = model.inputs[0].get_partial_shape()
    if shape.rank.is_dynamic:
        return
    changed = False
    for axis in range(len(shape)):
        want = 1 if axis == 0 else (input_shape[axis] if input_shape and axis < len(input_shape) else None)
        if shape[axis].is_dynamic and want:
            shape[axis] = want
            changed = True
    if changed:
        model.reshape({model.inputs[0]: shape})


def _one_line(exc: Exception) -> str:
    """OpenVINO's multi-line exception text as one line, without its source-location lines."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(('Exception from ', 'Check ', 'FrontEnd API failed'))]
    return ' '.join(kept or lines)[:300]


def read_onnx(model: str | os.PathLike | bytes) -> ov.Model:
    """The ONNX model (a file or its bytes) as an OpenVINO model, read by OpenVINO's ONNX reader only (the other
    readers would each try, and complain about, a file that is not ONNX); ValueError in one line when it is not."""
    import io

    from openvino.frontend import FrontEndManager

    frontend = FrontEndManager().load_by_framework('onnx')
    source = io.BytesIO(model) if isinstance(model, bytes) else str(model)
    try:
        return frontend.convert(frontend.load(source))
    except Exception as exc:  # noqa: BLE001 - OpenVINO's GeneralFailure, OpConversionFailure, ... (RuntimeError or not)
        raise ValueError(f'not a model OpenVINO can read as ONNX: {_one_line(exc)}') from None


def default_threads() -> int:
    return len(os.sched_getaffinity(0))


class OpenVinoRunner(FixedInterface):
    """An ONNX model compiled by OpenVINO for the CPU: ``runner(batch)`` -> outputs in ONNX order. Thread-safe (one
    infer request, locked); OpenVINO releases the GIL while it computes, so the other network's thread runs."""

    backend = 'openvino'

    def __init__(self, compiled: ov.CompiledModel, interface: Interface, precision: str, threads: int,
                 loaded_from: str):
        self.compiled = compiled
        self.precision = precision
        self.threads = threads
        self.loaded_from = loaded_from  # 'onnx' (compiled now) or 'cache' (a verified compiled model)
        self._inputs = [TensorInfo(n, tuple(s), t) for n, s, t in interface['inputs']]
        self._outputs = [TensorInfo(n, tuple(s), t) for n, s, t in interface['outputs']]
        self._metadata = dict(interface['metadata'])
        self.input_name = self._inputs[0].name
        self._request = compiled.create_infer_request()
        self._ports = list(compiled.outputs)  # in the ONNX's order; their names may include fused layers' names
        port = compiled.inputs[0]
        self._dtype = port.get_element_type().to_dtype()
        shape = port.get_partial_shape()
        self._batch_of_one = shape.rank.is_static and shape[0].is_static and shape[0].get_length() == 1
        self._lock = threading.Lock()
        version = (openvino_version() or '?').split('-')[0]
        self.description = (f"openvino {version} {precision} on cpu ({cpu_isa()}), {threads} thread"
                            f"{'s' if threads != 1 else ''}")

    @classmethod
    def open(cls, model: str | os.PathLike | bytes, precision: str, *, threads: int = 0,
             cache_dir: str | os.PathLike | None = None, onnx_sha256: str | None = None, name: str = '',
             input_shape: Sequence[int | None] | None = None,
             calibration: Calibration | None = None) -> OpenVinoRunner:
        """Compile ``model`` (an ONNX file, or its bytes) for the CPU in ``precision`` ('int8', 'bf16' or 'fp32',
        already resolved: ``jdd_ros.inference.backends.resolve_backend``), or import its verified compiled copy from
        ``cache_dir``. ValueError (one line) when OpenVINO cannot read or compile it. 'int8' quantises the model
        with NNCF on ``calibration`` first (a cache miss only).

        Settings (each measured, README Speed): the LATENCY hint, one stream running each request on ``threads``
        threads (0: all usable cores; THROUGHPUT splits the cores into streams one synchronous request cannot use:
        half speed); CPU pinning off (OpenVINO pins every model's threads from core 0 up, so two models in one
        process, or two nodes, shared core 0 while core 1 idled); a dynamic batch fixed to 1, and other dynamic
        input dimensions to ``input_shape`` where given. ``onnx_sha256`` spares hashing the ONNX again when the
        caller has just verified it.
        """
        if precision not in _OV_PRECISION:
            raise ValueError(f"precision {precision!r}: the OpenVINO runner takes 'int8', 'bf16' or 'fp32'")
        try:
            import openvino as ov
        except ImportError:
            raise RuntimeError(f"backend openvino needs the 'openvino' package (pip install openvino=={PIN}); or use "
                               'backend onnxruntime') from None
        _check_precision(precision, calibration)
        _init_bindings()
        threads = threads or default_threads()
        config: CompileConfig = {'INFERENCE_PRECISION_HINT': _OV_PRECISION[precision], 'PERFORMANCE_HINT': 'LATENCY',
                  'INFERENCE_NUM_THREADS': threads, 'ENABLE_CPU_PINNING': False}
        core = ov.Core()
        in_memory = isinstance(model, bytes)
        stem = name or ('model' if in_memory else Path(model).stem)

        def compile_onnx() -> tuple[ov.CompiledModel, Interface]:
            graph = read_onnx(model)
            interface = _interface(graph)  # as the ONNX declares it, before the shape is fixed
            _fix_shape(graph, input_shape)
            if precision == 'int8':
                graph = quantize_int8(graph, calibration)
            return core.compile_model(graph, 'CPU', config), interface

        if cache_dir is None:
            (compiled, interface), source = _compiled(compile_onnx), 'onnx'
        else:
            digest = onnx_sha256 or (hashlib.sha256(model).hexdigest() if in_memory else sha256_of(model))
            key = _compiled_key(core, digest, precision, input_shape, calibration)
            compiled, interface, source = _cached(core, compile_onnx, Path(cache_dir) / f'{stem}-{key}.ovblob',
                                                  config)
        got = compiled.get_property('INFERENCE_PRECISION_HINT').get_type_name()
        if got != _OV_PRECISION[precision]:  # OpenVINO falls back silently; we do not
            raise RuntimeError(f'OpenVINO compiled {stem} in {got}, not {precision}')
        if precision == 'int8' and not int8_layer_count(compiled):
            raise RuntimeError(f'OpenVINO runs no layer of {stem} in int8 on this CPU ({cpu_int8_isa()})')
        return cls(compiled, interface, precision, threads, source)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch)
        if batch.dtype != self._dtype:
            raise TypeError(f'input {self.input_name} is {self._dtype}, got {batch.dtype}')
        if len(batch) != 1 and self._batch_of_one:
            parts = [self(batch[i:i + 1]) for i in range(len(batch))]
            return [np.concatenate(outs) for outs in zip(*parts)]
        with self._lock:
            results = self._request.infer({0: batch}, share_inputs=True)  # outputs are copies (share_outputs off)
            return [results[port] for port in self._ports]


def _compiled_key(core: ov.Core, onnx_sha256: str, precision: str, input_shape: Sequence[int | None] | None,
                  calibration: Calibration | None) -> str:
    """What a compiled model depends on: the ONNX, precision, fixed input shape, OpenVINO's version, the CPU (name,
    capabilities, flags), the cache format, and for int8 the calibration set and NNCF's version."""
    return cache_key([onnx_sha256, precision, str(list(input_shape or [])), openvino_version() or '',
                      str(core.get_property('CPU', 'FULL_DEVICE_NAME')),
                      ','.join(core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES')),
                      ' '.join(sorted(_cpu_flags() or ())), f'format{CACHE_FORMAT}',
                      *([calibration.name, nncf_version()] if precision == 'int8' and calibration else [])])


def _check_precision(precision: str, calibration: Calibration | None) -> None:
    if precision == 'bf16' and not cpu_supports_bf16():
        raise ValueError(f'precision bf16: this CPU ({cpu_isa()}) has no native bf16 (AVX512_BF16 or AMX)')
    if precision == 'int8' and not cpu_supports_int8():
        raise ValueError(f'precision int8: this CPU ({cpu_int8_isa()}) has no int8 dot-product instructions '
                         '(AVX512_VNNI, AVX_VNNI or AMX-INT8)')
    if precision == 'int8' and calibration is None:
        raise ValueError('precision int8: this model comes without calibration inputs to quantise it with')


def _compiled(compile_onnx: CompileOnnx) -> tuple[ov.CompiledModel, Interface]:
    try:
        return compile_onnx()
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - an ONNX OpenVINO reads but cannot compile (an unsupported operator)
        raise ValueError(f'OpenVINO cannot compile it: {_one_line(exc)}') from None


def _cached(core: ov.Core, compile_onnx: CompileOnnx, path: Path, config: CompileConfig
            ) -> tuple[ov.CompiledModel, Interface, str]:
    """(compiled model, interface, 'cache' | 'onnx'): the cache file if intact and importable, else a fresh compile
    written to it. The file holds a header (the ONNX's interface, JSON) and OpenVINO's exported model; it is hashed
    and imported from the same bytes in memory, so what was checked is what runs."""
    data = read_verified(path)
    if data is not None and data.startswith(_MAGIC):
        start = len(_MAGIC) + 4
        (size,) = struct.unpack('<I', data[len(_MAGIC):start])
        try:
            interface = json.loads(data[start:start + size])
            # Threads, hint and pinning are runtime settings, given again at import; the precision is in the blob.
            return core.import_model(data[start + size:], 'CPU', config), interface, 'cache'
        except (RuntimeError, ValueError):  # an intact file OpenVINO refuses: recompile and overwrite it
            pass
    compiled, interface = _compiled(compile_onnx)
    blob = compiled.export_model()
    blob = blob.getvalue() if hasattr(blob, 'getvalue') else bytes(blob)  # io.BytesIO in OpenVINO 2026
    header = json.dumps(interface).encode()
    write_verified(path, _MAGIC + struct.pack('<I', len(header)) + header + blob)
    return compiled, interface, 'onnx'

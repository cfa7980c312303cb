"""The sidecar YAML that tells jdd_ros how to feed an external ONNX depth model and read its output.

An ONNX file says nothing about normalisation, channel order or what its output means (metres? inverse relative
depth?). Guessing is how users end up with depth in the wrong units, so every ONNX model needs this file next to it
(``model.onnx`` -> ``model.yaml``). Unknown keys are errors (a misspelt ``output_scale`` must not be ignored).

Output kinds:

- ``metric``: metres = ``output_scale * raw + output_shift`` (``output_scale: 0.001`` for a model that outputs mm).
- ``relative_inverse`` (MiDaS, Depth Anything relative): the output is inverse depth up to an unknown affine map.
  ``alignment: fixed`` uses metres = ``1 / (output_scale * raw + output_shift)`` with values the user calibrated once
  for the camera (see docs/depth-model.md); ``alignment: reference`` fits scale and shift per frame to a sparse metric
  reference (``DepthEstimator.predict_aligned``), which the depth node cannot do alone, so it refuses such models.
- ``metric_focal`` (Depth Anything 3 metric): metres at a reference focal length, so metres =
  ``(output_scale * raw + output_shift) * fx / reference_focal`` with fx (pixels) of the camera_info scaled to the
  network input.
- ``sigmoid_disparity`` (Monodepth2, ManyDepth, Lite-Mono): a sigmoid output ``disp`` in [0, 1] that the network was
  trained to read as depth = ``1 / (1 / max_depth + (1 / min_depth - 1 / max_depth) * disp)`` (``min_depth`` and
  ``max_depth``: its training range, required). Metres = that depth times ``output_scale`` (the metric factor of a
  stereo-trained model: 5.4 for Monodepth2 on KITTI stereo); without ``output_scale`` the depth is right up to a scale
  only, which ``alignment: ground`` (the floor) or ``reference`` (``predict_aligned``) supplies. Values outside [0, 1]
  cannot come out of a sigmoid: such a frame is refused (``DepthEstimator.postprocess``), never read as depth.

``alignment: ground`` (any output kind) takes the metric scale from the floor in every frame, given the camera's
height, pitch and roll (``jdd_ros.core.floor_scale``): scale and shift for ``relative_inverse``, scale only for the
metric kinds and ``sigmoid_disparity`` (a metric model outside its training domain is off by 1.5-2x; a
self-supervised model is right up to one scale, which Monodepth2's own evaluation fits by median scaling).

Each output kind has one entry in ``KIND_CHECKS`` (the checks of the keys it reads together) here and one conversion
in ``jdd_ros.depth.estimator.OUTPUT_KINDS``; ``test/test_sigmoid_disparity.py`` checks that both tables name the
same kinds.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

OUTPUT_KINDS = ('metric', 'relative_inverse', 'metric_focal', 'sigmoid_disparity')
ALIGNMENTS = ('fixed', 'reference', 'ground')
CHANNEL_ORDERS = ('rgb', 'bgr')
LAYOUTS = ('nchw', 'nhwc')


class SidecarError(ValueError):
    """A sidecar YAML that cannot describe a model: the text names the file, the key and the allowed values."""


@dataclass(frozen=True)
class OnnxDepthSpec:
    input_size: tuple[int, int]  # (height, width) the model is fed
    output_kind: str
    name: str = ''
    trained_on: str = ''
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    pixel_scale: float = 255.0  # pixel values are divided by this before mean/std
    channel_order: str = 'rgb'
    input_layout: str = 'nchw'
    input_name: str = ''  # '' = the model's first input
    output_name: str = ''  # '' = the model's first output
    output_scale: float | None = None
    output_shift: float = 0.0
    alignment: str = 'fixed'
    reference_focal: float = 300.0  # metric_focal: the focal length (pixels) at which the output is metres
    min_floor_fraction: float = 0.05  # alignment ground: less of the image on the floor gives no depth
    alignment_time_constant: float = 0.5  # alignment ground: smoothing of the fit over frames (seconds; 0 = none)
    min_depth: float = 0.0  # metric depths outside [min_depth, max_depth] become NaN; 0 = no limit
    max_depth: float = 0.0  # (sigmoid_disparity: the training depth range that disparity 1 and 0 stand for)
    sha256: str = ''  # expected sha256 of the .onnx file; '' skips the check

    @property
    def is_metric_without_reference(self) -> bool:
        """True when ``predict`` alone gives metres (no per-frame reference, intrinsics or camera geometry)."""
        return self.alignment == 'fixed' and self.output_kind != 'metric_focal'

    @property
    def needs_camera(self) -> bool:
        """True when metres need the camera's intrinsics (camera_info) and, for alignment ground, its mounting."""
        return self.output_kind == 'metric_focal' or self.alignment == 'ground'

    def to_yaml_dict(self) -> dict[str, object]:
        d: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
        if d['output_scale'] is None:
            del d['output_scale']
        return d


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.yaml``."""
    p = Path(model_path)
    return p.with_suffix('.yaml') if p.suffix == '.onnx' else Path(str(p) + '.yaml')


def _number(path: Path, key: str, value: object, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SidecarError(f'{path}: {key} must be a finite number, got {value!r}')
    if positive and value <= 0:
        raise SidecarError(f'{path}: {key} must be > 0, got {value!r}')
    return float(value)


def _positive(path: Path, key: str, value: object) -> float:
    return _number(path, key, value, positive=True)


def _not_negative(path: Path, key: str, value: object) -> float:
    number = _number(path, key, value)
    if number < 0:
        raise SidecarError(f'{path}: {key} must be >= 0, got {value!r}')
    return number


def _time_constant(path: Path, key: str, value: object) -> float:
    number = _number(path, key, value)
    if number < 0:
        raise SidecarError(f'{path}: {key} must be >= 0 seconds (0: no smoothing)')
    return number


def _fraction(path: Path, key: str, value: object) -> float:
    number = _number(path, key, value, positive=True)
    if number > 1:
        raise SidecarError(f'{path}: {key} is a fraction of the image, in (0, 1]')
    return number


def _scale(path: Path, key: str, value: object) -> float | None:
    """output_scale: not 0; null (as if absent) lets the output kind choose (1.0, or required)."""
    if value is None:
        return None
    number = _number(path, key, value)
    if number == 0:
        raise SidecarError(f'{path}: {key} must not be 0')
    return number


def _triple(path: Path, key: str, value: object, positive: bool = False) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SidecarError(f'{path}: {key} must be a list of 3 numbers (one per channel, RGB order), got {value!r}')
    first, second, third = (_number(path, f'{key}[{i}]', v, positive) for i, v in enumerate(value))
    return first, second, third


def _positive_triple(path: Path, key: str, value: object) -> tuple[float, float, float]:
    return _triple(path, key, value, positive=True)


def _choice(choices: tuple[str, ...]) -> Callable[[Path, str, object], str]:
    def check(path: Path, key: str, value: object) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise SidecarError(f"{path}: {key} must be one of {', '.join(choices)}, got {value!r}")
        return value.lower()
    return check


def _string(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise SidecarError(f'{path}: {key} must be a string, got {value!r}')
    return value


def _input_size(path: Path, key: str, value: object) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise SidecarError(f'{path}: {key} must be [height, width] in pixels (positive integers), got {value!r}')
    return int(value[0]), int(value[1])


# Every key of a sidecar and the check that turns its YAML value into the spec's value (or raises SidecarError
# naming the file, the key and what is allowed). Keys in the order a sidecar is checked.
FIELD_CHECKS: dict[str, Callable[[Path, str, object], object]] = {
    'input_size': _input_size,
    'output_kind': _choice(OUTPUT_KINDS),
    'name': _string,
    'trained_on': _string,
    'input_name': _string,
    'output_name': _string,
    'sha256': _string,
    'mean': _triple,
    'std': _positive_triple,
    'pixel_scale': _positive,
    'reference_focal': _positive,
    'alignment_time_constant': _time_constant,
    'min_floor_fraction': _fraction,
    'channel_order': _choice(CHANNEL_ORDERS),
    'input_layout': _choice(LAYOUTS),
    'alignment': _choice(ALIGNMENTS),
    'output_scale': _scale,
    'output_shift': _number,
    'min_depth': _not_negative,
    'max_depth': _not_negative,
}
REQUIRED = ('input_size', 'output_kind')


def _metric_kind(path: Path, spec: OnnxDepthSpec, given: set[str]) -> OnnxDepthSpec:
    """``metric``, ``metric_focal``: output_scale defaults to 1; nothing to fit to a reference."""
    if spec.alignment == 'reference':
        raise SidecarError(f'{path}: alignment reference applies to relative models only (relative_inverse, '
                           f'sigmoid_disparity without output_scale; output_kind is {spec.output_kind}); a metric '
                           'model takes fixed or ground')
    return spec if spec.output_scale is not None else dataclasses.replace(spec, output_scale=1.0)


def _relative_inverse(path: Path, spec: OnnxDepthSpec, given: set[str]) -> OnnxDepthSpec:
    if spec.alignment == 'fixed' and spec.output_scale is None:
        raise SidecarError(
            f'{path}: a relative_inverse model needs output_scale (and output_shift) so that metres = '
            '1 / (output_scale * raw + output_shift), calibrated once for the camera; or alignment: ground to take '
            'them from the floor in every frame (depth_node, given the camera height, pitch and roll); or alignment: '
            'reference to fit them per frame to a sparse metric reference (not usable by depth_node). '
            'See docs/depth-model.md')
    return spec


def _sigmoid_disparity(path: Path, spec: OnnxDepthSpec, given: set[str]) -> OnnxDepthSpec:
    """min_depth and max_depth are the conversion's range (required, > 0); output_scale the metric factor (> 0) or
    absent for a model right up to scale, which then needs alignment ground or reference."""
    missing = [key for key in ('min_depth', 'max_depth') if key not in given]
    if missing:
        raise SidecarError(f"{path}: a sigmoid_disparity model needs {' and '.join(missing)}: the depth range it was "
                           'trained with, which disparity 1 and 0 stand for (Monodepth2: min_depth 0.1, max_depth 100)')
    if not (spec.min_depth > 0 and spec.max_depth > 0):
        raise SidecarError(f'{path}: sigmoid_disparity needs min_depth and max_depth > 0, got {spec.min_depth} and '
                           f'{spec.max_depth}')
    if 'output_shift' in given:
        raise SidecarError(f'{path}: output_shift does not apply to sigmoid_disparity (metres = output_scale x the '
                           'depth of the disparity); remove it')
    if spec.output_scale is not None and spec.output_scale < 0:
        raise SidecarError(f'{path}: output_scale of a sigmoid_disparity model is its metric factor and must be > 0, '
                           f'got {spec.output_scale}')
    if spec.alignment == 'fixed' and spec.output_scale is None:
        raise SidecarError(f'{path}: a sigmoid_disparity model without output_scale gives depth up to scale only: set '
                           'output_scale to its metric factor (5.4 for Monodepth2 trained on KITTI stereo), or '
                           'alignment: ground (the scale from the floor, depth_node) or alignment: reference')
    if spec.alignment == 'reference' and spec.output_scale is not None:
        raise SidecarError(f'{path}: alignment reference fits the scale per frame, so output_scale '
                           f'{spec.output_scale} would be ignored; remove one of them')
    return spec


# Per output kind: the checks of the keys it reads together, returning the spec with the kind's defaults filled in.
KIND_CHECKS: dict[str, Callable[[Path, OnnxDepthSpec, set[str]], OnnxDepthSpec]] = {
    'metric': _metric_kind,
    'metric_focal': _metric_kind,
    'relative_inverse': _relative_inverse,
    'sigmoid_disparity': _sigmoid_disparity,
}


def _consistent(path: Path, kw: dict[str, object]) -> OnnxDepthSpec:
    """The spec of the validated values, with the checks that involve several keys (the output kind's in
    ``KIND_CHECKS``)."""
    spec = OnnxDepthSpec(**kw)  # type: ignore[arg-type]  # each value checked by FIELD_CHECKS
    if spec.max_depth and spec.min_depth >= spec.max_depth:
        raise SidecarError(f'{path}: min_depth {spec.min_depth} must be below max_depth {spec.max_depth}')
    return KIND_CHECKS[spec.output_kind](path, spec, set(kw))


def parse_sidecar(data: object, path: str | os.PathLike = '<sidecar>') -> OnnxDepthSpec:
    """Validate a sidecar mapping (already parsed from YAML): every key known, the required ones present, each
    value checked by its entry in ``FIELD_CHECKS``, then the checks that involve several keys."""
    path = Path(path)
    if not isinstance(data, dict):
        raise SidecarError(f'{path}: expected a mapping of keys (input_size, output_kind, ...), '
                           f'got {type(data).__name__}')
    unknown = sorted(set(map(str, data)) - set(FIELD_CHECKS))
    if unknown:
        raise SidecarError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(FIELD_CHECKS))})")
    for key in REQUIRED:
        if key not in data:
            raise SidecarError(f'{path}: missing required key {key}')
    kw = {key: check(path, key, data[key]) for key, check in FIELD_CHECKS.items() if key in data}
    return _consistent(path, kw)


def load_sidecar(path: str | os.PathLike) -> OnnxDepthSpec:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f'sidecar {path} not found: an ONNX depth model needs a YAML next to it that says how to feed it and '
            'what its output means (input_size, mean, std, channel_order, output_kind...); see docs/depth-model.md')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SidecarError(f'{path}: not valid YAML: {exc}') from exc
    return parse_sidecar(data, path)


def write_sidecar(path: str | os.PathLike, spec: OnnxDepthSpec, comment: str = '') -> None:
    import yaml

    text = ''.join(f'# {line}\n' for line in comment.splitlines())
    text += yaml.safe_dump(spec.to_yaml_dict(), sort_keys=False, default_flow_style=None)
    Path(path).write_text(text)

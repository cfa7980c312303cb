"""Darknet ``.cfg`` parser.

A cfg is an INI-like list of sections; every section after ``[net]`` is one layer, numbered from 0 as Darknet and
its route/shortcut references number them. Options are validated here, per layer type, so an option this package
does not implement is refused by name instead of silently changing what the network computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Section names Darknet accepts as aliases.
_ALIASES = {'network': 'net', 'conv': 'convolutional', 'max': 'maxpool'}

# Options that change what a layer computes at inference time and that the builder implements.
INFERENCE_OPTIONS: dict[str, frozenset[str]] = {
    'convolutional': frozenset({'filters', 'size', 'stride', 'pad', 'padding', 'activation', 'batch_normalize',
                                'groups', 'dilation'}),
    'maxpool': frozenset({'size', 'stride', 'padding'}),
    'route': frozenset({'layers', 'groups', 'group_id'}),
    'shortcut': frozenset({'from', 'activation'}),
    'upsample': frozenset({'stride'}),
    'yolo': frozenset({'mask', 'anchors', 'classes', 'num', 'scale_x_y', 'new_coords'}),
}

# Options that only matter while training with Darknet (losses, augmentation, label assignment); inference ignores
# them, like Darknet's own test mode does.
TRAINING_OPTIONS: dict[str, frozenset[str]] = {
    'convolutional': frozenset({'stopbackward', 'train_only_bn', 'bn_momentum', 'burnin_update'}),
    'maxpool': frozenset(),
    'route': frozenset({'stopbackward'}),
    'shortcut': frozenset(),
    'upsample': frozenset(),
    'yolo': frozenset({'jitter', 'ignore_thresh', 'truth_thresh', 'random', 'resize', 'cls_normalizer',
                       'iou_normalizer', 'obj_normalizer', 'iou_loss', 'iou_thresh', 'iou_thresh_kind',
                       'nms_kind', 'beta_nms', 'max_delta', 'counters_per_class', 'label_smooth_eps',
                       'focal_loss', 'max', 'objectness_smooth', 'delta_normalizer', 'uc_normalizer',
                       'embedding_layer', 'track_history_size', 'sim_thresh', 'dets_for_track', 'dets_for_show',
                       'track_ciou_norm', 'map', 'show_details'}),
}

LAYER_TYPES = frozenset(INFERENCE_OPTIONS)


class DarknetConfigError(ValueError):
    """A cfg this package cannot run exactly as Darknet would."""


@dataclass
class Section:
    """One ``[type]`` block of a cfg; ``index`` is the Darknet layer number (-1 for ``[net]``)."""

    type: str
    index: int
    line: int
    options: dict[str, str] = field(default_factory=dict)

    def where(self) -> str:
        return f'layer {self.index} [{self.type}] (line {self.line})'

    def error(self, message: str) -> DarknetConfigError:
        return DarknetConfigError(f'{self.where()}: {message}')

    def _value(self, key: str, default, convert, what: str):
        value = self.options.get(key)
        if value is None:
            if default is None:
                raise self.error(f'option {key!r} is required')
            return default
        try:
            return convert(value)
        except ValueError:
            raise self.error(f'option {key}={value!r} is not {what}') from None

    def get_int(self, key: str, default: int | None = None) -> int:
        return self._value(key, default, int, 'an integer')

    def get_float(self, key: str, default: float) -> float:
        return self._value(key, default, float, 'a number')

    def get_ints(self, key: str, default: list[int] | None = None) -> list[int]:
        return self._value(key, default, lambda v: [int(x) for x in v.split(',') if x.strip()], 'a list of integers')

    def get_floats(self, key: str) -> list[float]:
        return self._value(key, None, lambda v: [float(x) for x in v.split(',') if x.strip()], 'a list of numbers')


@dataclass
class DarknetConfig:
    """A parsed cfg: the ``[net]`` options and the layers in order."""

    net: Section
    layers: list[Section]
    source: str = '<string>'

    @property
    def width(self) -> int:
        return self.net.get_int('width')

    @property
    def height(self) -> int:
        return self.net.get_int('height')

    @property
    def channels(self) -> int:
        return self.net.get_int('channels', 3)

    @property
    def num_classes(self) -> int | None:
        """The class count its [yolo] layers agree on (None when they do not: building the model says why); read
        without torch, so a cached export can be used without building the model."""
        counts = {layer.get_int('classes', 20) for layer in self.layers if layer.type == 'yolo'}
        return counts.pop() if len(counts) == 1 else None


def _sections(text: str, source: str) -> list[Section]:
    """The sections in order, each with its options (comments and blank lines dropped, aliases resolved)."""
    sections: list[Section] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split('#', 1)[0].split(';', 1)[0].strip()
        if not line:
            continue
        if line.startswith('['):
            if not line.endswith(']'):
                raise DarknetConfigError(f'{source}: line {line_no}: malformed section header {raw.strip()!r}')
            name = line[1:-1].strip().lower()
            sections.append(Section(_ALIASES.get(name, name), len(sections) - 1, line_no))
        elif not sections:
            raise DarknetConfigError(f'{source}: line {line_no}: option {line!r} before the first [section]')
        else:
            _add_option(sections[-1], line, raw, line_no, source)
    return sections


def _add_option(section: Section, line: str, raw: str, line_no: int, source: str) -> None:
    if '=' not in line:
        raise DarknetConfigError(f'{source}: line {line_no}: expected key=value, got {raw.strip()!r}')
    key, value = (part.strip() for part in line.split('=', 1))
    if key in section.options:
        raise section.error(f'option {key!r} given twice (line {line_no})')
    section.options[key] = value


def _check_net(net: Section) -> None:
    if net.get_int('letter_box', 0):
        raise net.error('letter_box=1 (letterboxed input) is not supported; this package resizes like OpenCV DNN')
    for key in ('width', 'height'):
        if net.get_int(key) <= 0:
            raise net.error(f'{key} must be positive')


def _check_layer(layer: Section) -> None:
    """A layer type the builder implements, with only options it implements (or that matter only in training)."""
    if layer.type not in LAYER_TYPES:
        raise layer.error(f'unsupported layer type; supported: {", ".join(sorted(LAYER_TYPES))}')
    unknown = sorted(set(layer.options) - INFERENCE_OPTIONS[layer.type] - TRAINING_OPTIONS[layer.type])
    if unknown:
        raise layer.error(f'unsupported option(s) {", ".join(unknown)}')


def parse_cfg_text(text: str, source: str = '<string>') -> DarknetConfig:
    """Parse cfg text; raises :class:`DarknetConfigError` naming the layer for anything not supported."""
    sections = _sections(text, source)
    if not sections or sections[0].type != 'net':
        raise DarknetConfigError(f'{source}: the first section must be [net]')
    net, layers = sections[0], sections[1:]
    if not layers:
        raise DarknetConfigError(f'{source}: no layers after [net]')
    _check_net(net)
    for layer in layers:
        _check_layer(layer)
    return DarknetConfig(net, layers, source)


def parse_cfg(path: str | Path) -> DarknetConfig:
    """Parse a cfg file."""
    path = Path(path)
    return parse_cfg_text(path.read_text(encoding='utf-8', errors='strict'), source=str(path))

"""The offline tools' flags for node parameters, generated from the schema (``jdd_ros.params``).

``jdd-ros fuse``, ``process`` and ``detect`` take every parameter the file tools honour (``ParamSpec.offline``) as
``--name-with-dashes``: the flag's help is the parameter's description and allowed values, its default the schema's,
and a value is read and refused as ``-p name:=value`` is (the schema's reason, naming the parameter). A parameter of
the same name in several of a tool's nodes (``device``, ``backend``, ``camera_height``, ...) is one flag that sets
them all. The values go back to the nodes' typed snapshots by name (``snapshot_from_args``): no flag is mapped by
hand.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from jdd_ros.param_types import DepthNodeParams, DetectorNodeParams, FusionNodeParams, NodeName, NodeParams
from jdd_ros.params import SCHEMA, Spec, snapshot

# Spellings of earlier releases, still accepted and hidden from --help, so existing commands keep working.
OLD_SPELLINGS: dict[str, tuple[str, ...]] = {
    'confidence_threshold': ('--conf',),
    'nms_threshold': ('--nms',),
    'depth_statistic': ('--statistic',),
    'depth_percentile': ('--percentile',),
    'checkpoint': ('--depth-checkpoint',),
    'onnx_model': ('--depth-onnx',),
    'model_sha256': ('--depth-sha256',),
}


def flag_of(name: str) -> str:
    """The command-line flag of a parameter: ``max_depth`` -> ``--max-depth``."""
    return '--' + name.replace('_', '-')


def format_default(value: object) -> str:
    """A default as a user types it on a command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ','.join(value) if value else "'' (none)"
    return f"'{value}'" if value == '' else str(value)


@dataclass(frozen=True)
class ParamFlag:
    """One flag: the parameter ``name`` of every node in ``targets`` (described by the first one's spec)."""

    name: str
    targets: tuple[NodeName, ...]
    spec: Spec

    @property
    def flag(self) -> str:
        return flag_of(self.name)

    def help(self) -> str:
        """The parameter's description, allowed values, default, and the nodes it sets when more than one."""
        facts = '; '.join(filter(None, (self.spec.allowed(), f'default: {format_default(self.spec.default)}')))
        sets = f" Sets it on {' and '.join(self.targets)}." if len(self.targets) > 1 else ''
        return f'{self.spec.description} {facts[0].upper()}{facts[1:]}.{sets}'


    def parse(self, text: str) -> object:
        """``text`` as the parameter's value, accepted by every target node; ArgumentTypeError with the schema's
        reason otherwise (argparse prints it after the flag's name)."""
        value: object = None
        for node in self.targets:
            try:
                value = _spec(node, self.name).parse(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return value


def _spec(node: NodeName, name: str) -> Spec:
    return next(s for s in SCHEMA[node] if s.name == name)


def param_flags(nodes: Sequence[NodeName], leave_out: Iterable[str] = ()) -> list[ParamFlag]:
    """A flag for every parameter of ``nodes`` that the file tools honour, in schema order (``leave_out``: names
    a tool has no use for)."""
    skip = set(leave_out)
    flags: dict[str, list[NodeName]] = {}
    for node in nodes:
        for s in SCHEMA[node]:
            if s.offline and s.name not in skip:
                flags.setdefault(s.name, []).append(node)
    return [ParamFlag(name, tuple(targets), _spec(targets[0], name)) for name, targets in flags.items()]


def add_param_flags(parser: argparse.ArgumentParser, flags: Sequence[ParamFlag],
                    inferred: Mapping[str, str] | None = None, extra_help: Mapping[str, str] | None = None) -> None:
    """Add ``flags`` to ``parser``, grouped by the first node each sets. ``inferred``: parameters whose default the
    tool decides from its inputs (default None; the text says how); ``extra_help``: a sentence the tool adds."""
    inferred, extra_help = inferred or {}, extra_help or {}
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in flags:
        node = f.targets[0]
        if node not in groups:
            groups[node] = parser.add_argument_group(f'{node} parameters (docs/parameters.md)')
        help_ = f.help()
        if f.name in inferred:
            help_ = help_.replace(f'default: {format_default(f.spec.default)}', f'default: {inferred[f.name]}')
        help_ = f"{help_} {extra_help.get(f.name, '')}".strip().replace('%', '%%')
        kwargs: dict[str, Any] = {'dest': f.name, 'type': f.parse, 'metavar': _metavar(f.spec)}
        if f.spec.kind is bool:
            kwargs.update(nargs='?', const=True)
        default = None if f.name in inferred else f.spec.default
        groups[node].add_argument(f.flag, default=default, help=help_, **kwargs)
        for old in OLD_SPELLINGS.get(f.name, ()):
            groups[node].add_argument(old, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def _metavar(spec: Spec) -> str:
    if spec.choices:
        return '{' + ','.join(spec.choices) + '}'
    return {bool: 'true|false', list: 'A,B', int: 'N', float: 'X'}.get(spec.kind, spec.name.upper())


def node_values(args: argparse.Namespace, node: NodeName, flags: Sequence[ParamFlag]) -> dict[str, object]:
    """The values ``args`` holds for ``node``'s parameters (a flag left at None: the schema default)."""
    values = {f.name: getattr(args, f.name) for f in flags if node in f.targets}
    return {name: value for name, value in values.items() if value is not None}


@overload
def snapshot_from_args(args: argparse.Namespace, node: Literal['fusion_node'],
                       flags: Sequence[ParamFlag]) -> FusionNodeParams: ...
@overload
def snapshot_from_args(args: argparse.Namespace, node: Literal['detector_node'],
                       flags: Sequence[ParamFlag]) -> DetectorNodeParams: ...
@overload
def snapshot_from_args(args: argparse.Namespace, node: Literal['depth_node'],
                       flags: Sequence[ParamFlag]) -> DepthNodeParams: ...


def snapshot_from_args(args: argparse.Namespace, node: NodeName, flags: Sequence[ParamFlag]) -> NodeParams:
    """``node``'s typed parameters from the flags; ValueError (the schema's reasons) for a value set in code."""
    return snapshot(node, node_values(args, node, flags))



"""Declare a node's parameters from ``jdd_ros.params`` and keep a typed snapshot of their current values.

Nodes read ``params.current.max_depth`` for every message, so ``ros2 param set`` applies to the next message (the
failure of peers that read parameters only at start-up). The three rclpy callbacks do what ros2/demos shows: the
pre-set callback turns an integer into a double where a double is expected (users type ``max_depth:=3``), the on-set
callback validates with the schema and refuses with its reason, and the post-set callback stores the new snapshot
once rclpy has accepted the change, so a refused value never reaches a frame.
"""

from __future__ import annotations

import dataclasses
from typing import Generic, Literal, TypeVar, cast, overload

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from jdd_ros.param_types import DepthNodeParams, DetectorNodeParams, FusionNodeParams, NodeParams
from jdd_ros.params import SCHEMA, Spec, node_name, snapshot

_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
    list: ParameterType.PARAMETER_STRING_ARRAY,
}
Snapshot = TypeVar('Snapshot', bound=NodeParams)


def descriptor(spec: Spec) -> ParameterDescriptor:
    """The descriptor ``ros2 param describe`` shows. Scalars are declared with dynamic typing so that the schema, not
    rclpy's type check, judges a value: an integer is then accepted for a double and every other wrong type is
    refused with a reason that names the parameter and the expected type."""
    d = ParameterDescriptor(
        name=spec.name,
        type=_TYPES[spec.kind],
        description=spec.description,
        additional_constraints=spec.constraints(),
        read_only=not spec.dynamic,
        dynamic_typing=spec.kind is not list,
    )
    if spec.kind is float and (spec.min is not None or spec.max is not None):
        d.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min if spec.min is not None else -1e308),
            to_value=float(spec.max if spec.max is not None else 1e308), step=0.0)]
    elif spec.kind is int and (spec.min is not None or spec.max is not None):
        d.integer_range = [IntegerRange(
            from_value=int(spec.min if spec.min is not None else -(2 ** 63)),
            to_value=int(spec.max if spec.max is not None else 2 ** 63 - 1), step=1)]
    return d


def _is_integer_for_double(spec: Spec | None, value: object) -> bool:
    return spec is not None and spec.kind is float and isinstance(value, int) and not isinstance(value, bool)


class NodeParameters(Generic[Snapshot]):
    """The schema's parameters of one node, declared, validated, and kept as a typed snapshot (``current``): a node
    made with ``NodeParameters(self, 'fusion_node')`` reads ``params.current.max_depth`` as a float."""

    @overload
    def __init__(self: NodeParameters[FusionNodeParams], node: Node, schema_name: Literal['fusion_node']) -> None: ...
    @overload
    def __init__(self: NodeParameters[DetectorNodeParams], node: Node,
                 schema_name: Literal['detector_node']) -> None: ...
    @overload
    def __init__(self: NodeParameters[DepthNodeParams], node: Node, schema_name: Literal['depth_node']) -> None: ...
    @overload
    def __init__(self: NodeParameters[NodeParams], node: Node, schema_name: str) -> None: ...

    def __init__(self, node: Node, schema_name: str) -> None:
        self._node = node
        self._schema_name = node_name(schema_name)
        self._specs = {s.name: s for s in SCHEMA[self._schema_name]}
        values: dict[str, object] = {}
        errors: list[str] = []
        for spec in self._specs.values():
            value = self._declare(spec)
            reason = spec.validate(value)
            if reason:
                errors.append(reason)
            else:
                values[spec.name] = value
        if errors:
            raise ValueError(f'invalid parameters for {node.get_name()}: ' + '; '.join(errors))
        self.current: Snapshot = cast(Snapshot, snapshot(self._schema_name, values))
        # Stored as the double it means, so that 'ros2 param get' shows what the node uses.
        doubles = [Parameter(n, Parameter.Type.DOUBLE, float(v)) for n, v in values.items()
                   if isinstance(v, int) and _is_integer_for_double(self._specs[n], v)]
        if doubles:
            node.set_parameters(doubles)
        node.add_pre_set_parameters_callback(self._to_double)
        node.add_on_set_parameters_callback(self._validate)
        node.add_post_set_parameters_callback(self._store)

    def _declare(self, spec: Spec) -> object:
        if spec.kind is list and not spec.default:
            # rclpy cannot infer a type from [] (it would declare a byte array): declare the type only.
            self._node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, descriptor(spec))
            param = self._node.get_parameter_or(spec.name, None)
            return param.value if param is not None and param.value is not None else []
        return self._node.declare_parameter(spec.name, spec.default, descriptor(spec)).value

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self.current)

    def _to_double(self, params: list[Parameter]) -> list[Parameter]:
        return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
                if _is_integer_for_double(self._specs.get(p.name), p.value) else p for p in params]

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            spec = self._specs.get(p.name)
            if spec is None:
                continue  # not ours (e.g. use_sim_time): rclpy handles it
            if not spec.dynamic:
                return SetParametersResult(successful=False,
                                           reason=f'{p.name} is read at start-up; restart the node to change it')
            reason = spec.validate([] if p.value is None and spec.kind is list else p.value)
            if reason:
                self._node.get_logger().warning(f'refused {p.name}={p.value!r}: {reason}')
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _store(self, params: list[Parameter]) -> None:
        changed = {p.name: [] if p.value is None else p.value for p in params if p.name in self._specs}
        if not changed:
            return
        self.current = cast(Snapshot, snapshot(self._schema_name, {**self.as_dict(), **changed}))
        for name in changed:
            self._node.get_logger().info(f'{name} set to {getattr(self.current, name)!r}')

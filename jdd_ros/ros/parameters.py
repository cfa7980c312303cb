"""Declare a node's parameters from ``jdd_ros.params`` and keep their current values for the callbacks.

Nodes read ``params['max_depth']`` on every message, so ``ros2 param set`` applies to the next message (the
failure of peers that read parameters only at start-up). Refused values come back with the schema's reason.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from jdd_ros.params import SCHEMA, ParamSpec

_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
    list: ParameterType.PARAMETER_STRING_ARRAY,
}


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    d = ParameterDescriptor(
        name=spec.name,
        type=_TYPES[spec.kind],
        description=spec.description,
        additional_constraints=spec.constraints(),
        read_only=not spec.dynamic,
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


class NodeParameters:
    """The schema's parameters of one node, declared, validated, and kept current."""

    def __init__(self, node: Node, schema_name: str):
        self._node = node
        self._specs = {s.name: s for s in SCHEMA[schema_name]}
        self._values: dict[str, Any] = {}
        errors = []
        for spec in self._specs.values():
            if spec.kind is list and not spec.default:
                # rclpy cannot infer a type from [] (it would declare a byte array): declare the type only.
                node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, descriptor(spec))
                param = node.get_parameter_or(spec.name, None)
                value = param.value if param is not None and param.value is not None else []
            else:
                value = node.declare_parameter(spec.name, spec.default, descriptor(spec)).value
            reason = spec.validate(value)
            if reason:
                errors.append(reason)
            else:
                self._values[spec.name] = spec.coerce(value)
        if errors:
            raise ValueError(f'invalid parameters for {node.get_name()}: ' + '; '.join(errors))
        node.add_on_set_parameters_callback(self._on_set)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        accepted = {}
        for p in params:
            spec = self._specs.get(p.name)
            if spec is None:
                continue  # not ours (e.g. use_sim_time): rclpy handles it
            if not spec.dynamic:
                return SetParametersResult(successful=False,
                                           reason=f'{p.name} is read at start-up; restart the node to change it')
            value = [] if p.value is None and spec.kind is list else p.value
            reason = spec.validate(value)
            if reason:
                self._node.get_logger().warning(f'refused {p.name}={p.value!r}: {reason}')
                return SetParametersResult(successful=False, reason=reason)
            accepted[p.name] = spec.coerce(value)
        self._values.update(accepted)
        for name, value in accepted.items():
            self._node.get_logger().info(f'{name} set to {value!r}')
        return SetParametersResult(successful=True)

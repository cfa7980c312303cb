"""``jdd-ros param list/get/set/describe``: what ``ros2 param`` does, for a machine without the ROS 2 command line.

The same services (``<node>/list_parameters``, ``get_parameters``, ``set_parameters``, ``describe_parameters``), the
same reading of a value typed on the command line (``rclpy.parameter.get_parameter_value``: YAML, so ``2`` is an
integer, ``2.0`` a double, ``true`` a bool, ``[1, 2]`` an array, anything else a string), so the node sees exactly
the request ``ros2 param set`` would send and answers it the same way (a jdd_ros node takes an integer for a double
and refuses a wrong value with its reason). Output lines and exit statuses are ``ros2 param``'s: a refused value
prints ``Setting parameter failed: <the node's reason>`` on stderr and exits 0, as ros2 param does; a node that is
not there prints ``Node not found`` and exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rcl_interfaces.msg import ParameterDescriptor, ParameterValue, SetParametersResult

from jdd_ros.ros.client_node import ClientNode, absolute_node_name

if TYPE_CHECKING:
    from rclpy.parameter_client import AsyncParameterClient
    from rclpy.task import Future

NODE_NOT_FOUND = 'Node not found'
SERVICE_TIMEOUT_S = 5.0  # as ros2param waits for a node's parameter services

_TYPE_NAMES = {1: 'boolean', 2: 'integer', 3: 'double', 4: 'string', 5: 'byte array', 6: 'boolean array',
               7: 'integer array', 8: 'double array', 9: 'string array', 0: 'not set'}
# ParameterType -> (label of ros2 param get, field of ParameterValue)
_GET_LABELS = {1: ('Boolean value is:', 'bool_value'), 2: ('Integer value is:', 'integer_value'),
               3: ('Double value is:', 'double_value'), 4: ('String value is:', 'string_value'),
               5: ('Byte values are:', 'byte_array_value'), 6: ('Boolean values are:', 'bool_array_value'),
               7: ('Integer values are:', 'integer_array_value'), 8: ('Double values are:', 'double_array_value'),
               9: ('String values are:', 'string_array_value')}


class ParamError(Exception):
    """What ros2 param would return as its error text (printed on stderr, exit status 1)."""


def type_name(parameter_type: int) -> str:
    """'double', 'string array', ... as ros2 param names a ParameterType."""
    return _TYPE_NAMES.get(parameter_type, f'unknown ({parameter_type})')


def value_line(pvalue: ParameterValue, hide_type: bool = False) -> str:
    """The line ros2 param get prints for a ParameterValue."""
    if pvalue.type == 0:
        return 'None' if hide_type else 'Parameter not set.'
    if pvalue.type not in _GET_LABELS:
        raise ParamError(f"Unknown parameter type '{pvalue.type}'")
    label, attr = _GET_LABELS[pvalue.type]
    value = getattr(pvalue, attr)
    if hasattr(value, 'tolist'):
        value = value.tolist()
    return str(value) if hide_type else f'{label} {value}'


def descriptor_lines(descriptor: ParameterDescriptor) -> list[str]:
    """The lines ros2 param describe prints for a ParameterDescriptor."""
    lines = [f'Parameter name: {descriptor.name}', f'  Type: {type_name(descriptor.type)}']
    if descriptor.description:
        lines.append(f'  Description: {descriptor.description}')
    lines.append('  Constraints:')
    if descriptor.read_only:
        lines.append('    Read only: true')
    ranges = list(descriptor.floating_point_range) + list(descriptor.integer_range)
    if ranges:
        lines += [f'    Min value: {ranges[0].from_value}', f'    Max value: {ranges[0].to_value}']
        if ranges[0].step:
            lines.append(f'    Step: {ranges[0].step}')
    if descriptor.additional_constraints:
        lines.append(f'    Additional constraints: {descriptor.additional_constraints}')
    return lines


def parse_value(text: str) -> ParameterValue:
    """The ParameterValue ros2 param set sends for ``text`` (YAML reading: '2' integer, '2.0' double, ...)."""
    from rclpy.parameter import get_parameter_value

    return get_parameter_value(string_value=text)


class ParamTool:
    """Parameter services of other nodes, through one hidden client node."""

    def __init__(self, client: ClientNode, timeout: float = 1.0):
        self.client, self.timeout = client, timeout

    def find(self, node_name: str) -> str:
        """The node's absolute name once the graph shows it (within ``timeout``), else ParamError('Node not found')."""
        name = absolute_node_name(node_name)
        if not self.client.wait_until(lambda: name in self.client.node_names(), self.timeout):
            raise ParamError(NODE_NOT_FOUND)
        return name

    def _parameters_client(self, node_name: str) -> AsyncParameterClient:
        from rclpy.parameter_client import AsyncParameterClient

        pc = AsyncParameterClient(self.client.node, node_name)
        if not pc.wait_for_services(timeout_sec=SERVICE_TIMEOUT_S):
            raise ParamError(f'Wait for service timed out waiting for parameter services for node {node_name}')
        return pc

    def _call(self, future: Future, node_name: str) -> Any:  # the service's response type
        try:
            return self.client.call(future, SERVICE_TIMEOUT_S)
        except TimeoutError as exc:
            raise ParamError(f'Exception while calling service of node {node_name}: {exc}') from None

    def list(self, node_name: str) -> list[str]:
        name = self.find(node_name)
        return sorted(self._call(self._parameters_client(name).list_parameters(), name).result.names)

    def get(self, node_name: str, parameter: str) -> ParameterValue:
        """The ParameterValue (type 0: not set), or ParamError('Parameter not set')."""
        name = self.find(node_name)
        values = self._call(self._parameters_client(name).get_parameters([parameter]), name).values
        if not values:
            raise ParamError('Parameter not set')
        return values[0]

    def set(self, node_name: str, parameter: str, text: str) -> SetParametersResult:
        """The node's SetParametersResult for ``text`` read as ros2 param set reads it."""
        from rcl_interfaces.msg import Parameter

        name = self.find(node_name)
        msg = Parameter(name=parameter, value=parse_value(text))
        return self._call(self._parameters_client(name).set_parameters([msg]), name).results[0]

    def describe(self, node_name: str, parameters: Sequence[str]) -> Sequence[ParameterDescriptor]:
        name = self.find(node_name)
        return list(self._call(self._parameters_client(name).describe_parameters(list(parameters)), name).descriptors)


def set_result_line(result: SetParametersResult) -> tuple[str, bool]:
    """ros2 param set's line for a SetParametersResult, and whether it succeeded."""
    head = 'Set parameter successful' if result.successful else 'Setting parameter failed'
    return (f'{head}: {result.reason}' if result.reason else head), bool(result.successful)


def run_param(verb: str, node: str | None, names: Sequence[str], value: str | None = None, *, timeout: float = 1.0,
              hide_type: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """One ``jdd-ros param VERB`` as ros2 param runs it: its output on ``out``/``err``, its exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    with ClientNode('_jdd_ros_param') as client:
        tool = ParamTool(client, timeout)
        try:
            if verb == 'list':
                _print_list(tool, client, node, timeout, out)
            elif verb == 'get':
                print(value_line(tool.get(node, names[0]), hide_type), file=out)
            elif verb == 'set':
                line, ok = set_result_line(tool.set(node, names[0], value))
                print(line, file=out if ok else err)
            elif verb == 'describe':
                for descriptor in tool.describe(node, names):
                    print('\n'.join(descriptor_lines(descriptor)), file=out)
            else:
                raise ParamError(f"unknown verb '{verb}' (list, get, set, describe)")
        except ParamError as exc:
            print(exc, file=err)
            return 1
    return 0


def _print_list(tool: ParamTool, client: ClientNode, node: str | None, timeout: float, out: TextIO) -> None:
    """ros2 param list [NODE]: every parameter name, indented, under each node's name when no node is given."""
    if node is not None:
        for name in tool.list(node):
            print(f'  {name}', file=out)
        return
    client.wait_until(lambda: False, timeout)  # discovery: let the graph fill for the wait given
    for full in sorted(n for n in client.node_names() if not n.rsplit('/', 1)[-1].startswith('_')):
        names = tool.list(full)
        if names:
            print(f'{full}:', file=out)
            for name in names:
                print(f'  {name}', file=out)

"""Whether a YOLOX export decodes its boxes in the graph (``tools/export_onnx.py --decode_in_inference``) or leaves
the raw head (the default): both outputs have the same shape, so the graph decides.

The decoding is the only ``Exp`` after the head (``wh = exp(raw_wh) * stride``): walking back from the output
through the operations that only move, join or scale values, a decoded export meets an ``Exp``; a raw one meets only
the head's last ``Conv`` (boxes) and ``Sigmoid`` (objectness, classes). Anything else on the way (a softmax, a
TopK, NMS ...) is a graph this family does not know, and the answer is "cannot tell".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Operations that carry the head's values to the output; for those mapped to 1 only the first input carries them
# (the others are shapes, indices, axes).
_CARRY = {'Reshape': 1, 'Flatten': 1, 'Transpose': 1, 'Slice': 1, 'Split': 1, 'Gather': 1, 'Unsqueeze': 1,
          'Squeeze': 1, 'Cast': 1, 'Identity': 1, 'Expand': 1, 'Tile': 1,
          'Concat': None, 'Add': None, 'Mul': None, 'Sub': None, 'Div': None}
_HEAD_ENDS = {'Conv', 'Sigmoid'}  # the raw head's last operations
_CONSTANTS = {'Constant', 'Shape', 'ConstantOfShape', 'Range', 'Size'}  # the anchor grid, strides, shapes


@dataclass(frozen=True)
class GraphDecoding:
    """What the graph says: ``decoded`` True (an Exp after the head), False (raw head) or None (cannot tell), and
    the operations met between the head and the output that settle nothing (for the refusal's message)."""

    decoded: bool | None
    unknown_ops: tuple[str, ...] = ()


def graph_decoding(path: Path, output: str) -> GraphDecoding:
    """How the export at ``path`` computes its output ``output``: decoded in the graph, raw, or cannot tell."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {name: node for node in graph.node for name in node.output}
    pending, seen, met = [output], set(), set()
    while pending:
        name = pending.pop()
        node = producer.get(name)
        if node is None or name in seen:  # a graph input or an initializer
            continue
        seen.add(name)
        if node.op_type in _CARRY:
            pending.extend(node.input[:_CARRY[node.op_type]])
        elif node.op_type not in _CONSTANTS:
            met.add(node.op_type)  # where the walk stops: the decoding, the head, or an operation it does not know
    unknown = tuple(sorted(met - _HEAD_ENDS - {'Exp'}))
    if 'Exp' in met:
        return GraphDecoding(True)
    return GraphDecoding(False if met and not unknown else None, unknown)

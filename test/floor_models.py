"""Depth models with a known answer for the floor alignment tests, made from a real RGB-D frame's sensor depth, and
the reference mounting geometry of that frame from a floor plane fitted here, independently of jdd_ros.

``buffer_model`` writes an ONNX model (onnx.helper, milliseconds) whose output is a fixed buffer (the image only
multiplied by 0 and added, so the graph has a real image input): ``s / depth + t`` is a relative inverse-depth model
with an arbitrary scale and shift, ``depth / 1.7`` an out-of-domain metric model, ``depth * 300 / fx`` a model in
metres at a reference focal length of 300 px. Holes of the sensor depth are filled from their neighbours first
(cv2.inpaint), as a network would output something there.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper


def tile_boxes(width: int = 640, height: int = 480, cols: int = 4, rows: int = 4) -> dict[str, tuple]:
    """A grid of boxes over the image (for a frame without known objects)."""
    w, h = width / cols, height / rows
    return {f'tile_{r}_{c}': (c * w, r * h, (c + 1) * w, (r + 1) * h) for r in range(rows) for c in range(cols)}


def reference_floor(depth_m: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                    threshold: float = 0.02, seed: int = 0) -> dict[str, float]:
    """Camera height, pitch and roll (degrees, the issue's convention) from the largest plane in the sensor depth
    whose normal points up in the image (y negative): RANSAC on 3 points, then a total-least-squares refit."""
    v, u = np.nonzero(depth_m > 0)
    z = depth_m[v, u].astype(np.float64)
    points = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1)
    rng = np.random.default_rng(seed)
    best, best_count = None, -1
    for _ in range(500):
        p = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(p[1] - p[0], p[2] - p[0])
        if np.linalg.norm(n) < 1e-9:
            continue
        n /= np.linalg.norm(n)
        d = -n @ p[0]
        if d < 0:
            n, d = -n, -d
        if n[1] > -0.5:  # the floor's upward normal points to -y (up in the image) for a camera not upside down
            continue
        count = int((np.abs(points @ n + d) < threshold).sum())
        if count > best_count:
            best, best_count = (n, d), count
    n, d = best
    inliers = points[np.abs(points @ n + d) < threshold]
    centre = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centre, full_matrices=False)[2][2]
    offset = -normal @ centre
    if offset < 0:
        normal, offset = -normal, -offset
    # n = (sin(roll) cos(pitch), -cos(roll) cos(pitch), -sin(pitch)); the floor is n . p = -height
    return {'height': float(offset), 'pitch': math.degrees(math.asin(-normal[2])),
            'roll': math.degrees(math.atan2(normal[0], -normal[1])), 'floor_fraction': len(inliers) / depth_m.size}


def filled_depth(depth_m: np.ndarray) -> np.ndarray:
    """The sensor depth with its holes (0) filled from the surrounding readings."""
    holes = (depth_m <= 0).astype(np.uint8)
    mm = np.clip(depth_m * 1000.0, 0, 65535).astype(np.uint16)
    return cv2.inpaint(mm, holes, 5, cv2.INPAINT_TELEA).astype(np.float32) / 1000.0


def buffer_model(path: Path, buffer: np.ndarray, sidecar: dict[str, Any], activation: str = '') -> Path:
    """An ONNX model whose output (1, 1, H, W) is ``buffer`` whatever the image, with its sidecar (sha256 included);
    ``activation`` (an ONNX operator such as 'Sigmoid') is applied to the buffer as the network's last layer."""
    h, w = buffer.shape
    nodes = [
        helper.make_node('Slice', ['image', 'starts', 'ends', 'axes'], ['first_channel']),
        helper.make_node('Mul', ['first_channel', 'zero'], ['zeros']),
        helper.make_node('Add', ['zeros', 'buffer'], ['pre_activation' if activation else 'depth']),
    ]
    if activation:
        nodes.append(helper.make_node(activation, ['pre_activation'], ['depth']))
    inits = [numpy_helper.from_array(np.array(v, np.int64), name) for name, v in
             (('starts', [0]), ('ends', [1]), ('axes', [1]))]
    inits += [numpy_helper.from_array(np.zeros((1,), np.float32), 'zero'),
              numpy_helper.from_array(buffer.astype(np.float32)[None, None], 'buffer')]
    graph = helper.make_graph(nodes, 'buffer_depth', [helper.make_tensor_value_info('image', TensorProto.FLOAT,
                                                                                     [1, 3, h, w])],
                              [helper.make_tensor_value_info('depth', TensorProto.FLOAT, [1, 1, h, w])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix('.yaml').write_text(yaml.safe_dump({'input_size': [h, w], 'sha256': digest, **sidecar}))
    return path

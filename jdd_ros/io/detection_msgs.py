"""Detection <-> vision_msgs Detection2DArray / Detection3DArray, for any implementation of the messages.

The one conversion used by the nodes (rclpy messages, ``jdd_ros.ros.messages``) and by bags (rosbags messages,
``jdd_ros.io.bags``). Writing takes ``make(type_name, **fields)``, which builds a message of a ROS type name such as
``'vision_msgs/msg/Detection2D'`` from every one of its fields (rosbags types have no defaults); reading and updating
need only the fields (duck typing). No ROS import.

Layout written: one hypothesis (class name, score) per detection; a detection with a depth also carries it in
``results[k].pose.pose.position`` (z = depth in metres, x/y back-projected when known) and its variance in
``pose.covariance[14]``.

Reading a Detection2DArray (``read_detection_array``) takes the best hypothesis of every Detection2D and skips, with
the cause, what cannot carry or get a distance: a detection without results (the distance is written into its
results, so it would be republished with its distance nowhere) and a box of negative size (a malformed box: its
corners are unknown, reading it as its absolute size would measure another region). A NaN box is read as it is:
fusion publishes it as not measurable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.io.message_fields import (
    Detection2DArrayFields,
    Detection2DFields,
    Detection3DArrayFields,
    HeaderFields,
    HypothesisWithPoseFields,
    PoseWithCovarianceFields,
)

# make(type_name, **fields) -> a message of that ROS type, of whichever implementation make builds (rclpy or rosbags):
# the one place where the message type is truly generic.
Make = Callable[..., Any]

DETECTION_2D_ARRAY = 'vision_msgs/msg/Detection2DArray'
DETECTION_2D = 'vision_msgs/msg/Detection2D'
DETECTION_3D_ARRAY = 'vision_msgs/msg/Detection3DArray'
DETECTION_3D = 'vision_msgs/msg/Detection3D'

# Why a Detection2D of an array is not read (the keys of ReadDetections.skipped).
NO_RESULTS = 'no results'
NEGATIVE_SIZE = 'negative box size'


@dataclass
class ReadDetections:
    """The detections read from one Detection2DArray, and (index in the array, cause) of each one skipped."""

    detections: list[Detection]
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def skipped_by_cause(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, cause in self.skipped:
            out[cause] = out.get(cause, 0) + 1
        return out


def read_detection_array(msg: Detection2DArrayFields, keep_messages: bool = False) -> ReadDetections:
    """The best hypothesis of every readable Detection2D of ``msg`` as a Detection (box in pixels, axis-aligned).

    With ``keep_messages`` each Detection keeps its Detection2D in ``extra['msg']`` (``fused_array`` republishes it).
    """
    out = ReadDetections([])
    for i, d in enumerate(msg.detections):
        size_x, size_y = float(d.bbox.size_x), float(d.bbox.size_y)
        if not len(d.results):
            out.skipped.append((i, NO_RESULTS))
            continue
        if size_x < 0 or size_y < 0:
            out.skipped.append((i, NEGATIVE_SIZE))
            continue
        cx, cy = float(d.bbox.center.position.x), float(d.bbox.center.position.y)
        best = max(d.results, key=lambda r: r.hypothesis.score)
        out.detections.append(Detection(
            class_name=best.hypothesis.class_id, score=float(best.hypothesis.score),
            x1=cx - size_x / 2, y1=cy - size_y / 2, x2=cx + size_x / 2, y2=cy + size_y / 2, id=d.id or str(i),
            extra={'msg': d} if keep_messages else {}))
    return out


def _pose(make: Make, xyz: tuple[float, float, float], variance: float) -> PoseWithCovarianceFields:
    covariance = np.zeros(36, dtype=np.float64)
    covariance[14] = variance
    point = make('geometry_msgs/msg/Point', x=xyz[0], y=xyz[1], z=xyz[2])
    orientation = make('geometry_msgs/msg/Quaternion', x=0.0, y=0.0, z=0.0, w=1.0)
    return make('geometry_msgs/msg/PoseWithCovariance', pose=make('geometry_msgs/msg/Pose', position=point,
                                                                   orientation=orientation), covariance=covariance)


def _depth_xyz(det: Detection) -> tuple[float, float, float]:
    if det.position is not None:
        return tuple(float(v) for v in det.position)  # type: ignore[return-value]
    return 0.0, 0.0, float(det.depth)


def set_depth_pose(hyp: HypothesisWithPoseFields, det: Detection) -> None:
    """Write the detection's depth into a hypothesis: position (x, y back-projected or 0, z = depth), covariance[14]."""
    pos = hyp.pose.pose.position
    pos.x, pos.y, pos.z = _depth_xyz(det)
    covariance = np.zeros(36, dtype=np.float64)
    covariance[14] = float(det.depth_variance)
    hyp.pose.covariance = covariance


def _hypothesis(make: Make, det: Detection) -> HypothesisWithPoseFields:
    if not math.isnan(det.depth) or det.position is not None:  # fused: the depth as set_depth_pose writes it
        pose = _pose(make, _depth_xyz(det), float(det.depth_variance))
    else:
        pose = _pose(make, (0.0, 0.0, 0.0), 0.0)
    return make('vision_msgs/msg/ObjectHypothesisWithPose', pose=pose,
                hypothesis=make('vision_msgs/msg/ObjectHypothesis', class_id=det.class_name, score=float(det.score)))


def detection_2d(make: Make, det: Detection, header: HeaderFields, index: int = 0) -> Detection2DFields:
    """One Detection2D carrying ``header``: the box (centre and size), one hypothesis (with the depth when fused)."""
    cx, cy = det.center
    center = make('vision_msgs/msg/Pose2D', position=make('vision_msgs/msg/Point2D', x=float(cx), y=float(cy)),
                  theta=0.0)
    bbox = make('vision_msgs/msg/BoundingBox2D', center=center, size_x=float(det.width), size_y=float(det.height))
    return make(DETECTION_2D, header=header, results=[_hypothesis(make, det)], bbox=bbox, id=det.id or str(index))


def detection_array(make: Make, detections: Iterable[Detection], header: HeaderFields) -> Detection2DArrayFields:
    """Detections (image pixels) as a Detection2DArray carrying ``header`` unchanged."""
    return make(DETECTION_2D_ARRAY, header=header,
                detections=[detection_2d(make, det, header, i) for i, det in enumerate(detections)])


def fused_array(make: Make, detections: Iterable[Detection], header: HeaderFields) -> Detection2DArrayFields:
    """Fused detections as a Detection2DArray carrying ``header`` unchanged.

    A detection read with ``read_detection_array(..., keep_messages=True)`` is republished as its own Detection2D,
    every hypothesis unchanged except its pose (``set_depth_pose``), its id the detection's (a track ID); any other is
    written like ``detection_array``.
    """
    out = []
    for i, det in enumerate(detections):
        d = det.extra.get('msg')
        if d is None:
            out.append(detection_2d(make, det, header, i))
            continue
        for hyp in d.results:
            set_depth_pose(hyp, det)
        d.id = det.id  # the track ID where fusion_node tracks (empty for an untracked one), else the ID read
        out.append(d)
    return make(DETECTION_2D_ARRAY, header=header, detections=out)


def has_3d(det: Detection) -> bool:
    """Whether ``detection_3d_array`` writes the detection: it has a back-projected position and a finite depth."""
    return det.position is not None and math.isfinite(det.depth)


def detection_3d_array(make: Make, detections: Iterable[Detection], header: HeaderFields,
                       intrinsics: CameraIntrinsics) -> Detection3DArrayFields:
    """Detections with a back-projected position as a Detection3DArray (optical frame of ``header``).

    The box centre is the back-projected point; its x/y size is the 2D box's size at that depth (``intrinsics`` of the
    detections' image); its z size (unseen by the camera) is taken as the smaller of the two. Detections without a
    position or a finite depth are left out.
    """
    out = []
    for i, det in enumerate(detections):
        if not has_3d(det):
            continue
        src = det.extra.get('msg')
        results = list(src.results) if src is not None else [_hypothesis(make, det)]
        for hyp in results:
            set_depth_pose(hyp, det)
        size_x = abs(det.width) * det.depth / intrinsics.fx
        size_y = abs(det.height) * det.depth / intrinsics.fy
        x, y, z = (float(v) for v in det.position)
        center = make('geometry_msgs/msg/Pose', position=make('geometry_msgs/msg/Point', x=x, y=y, z=z),
                      orientation=make('geometry_msgs/msg/Quaternion', x=0.0, y=0.0, z=0.0, w=1.0))
        size = make('geometry_msgs/msg/Vector3', x=float(size_x), y=float(size_y), z=float(min(size_x, size_y)))
        out.append(make(DETECTION_3D, header=header, results=results,
                        bbox=make('vision_msgs/msg/BoundingBox3D', center=center, size=size), id=det.id or str(i)))
    return make(DETECTION_3D_ARRAY, header=header, detections=out)

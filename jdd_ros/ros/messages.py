"""vision_msgs/sensor_msgs <-> jdd_ros core records."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from vision_msgs.msg import Detection2D, Detection2DArray, Detection3D, Detection3DArray, ObjectHypothesisWithPose

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection


def stamp_ns(header: Any) -> int:
    """A header stamp as integer nanoseconds: the exact key that joins messages of one camera frame."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def detections_to_msg(detections: Iterable[Detection], header: Any) -> Detection2DArray:
    """Detections (input-image pixels) as a Detection2DArray carrying ``header`` unchanged.

    Each detection has one hypothesis (class name, score); fused detections also carry depth in
    ``results[0].pose.pose.position`` (z = depth in metres, x/y back-projected when known) and its variance in
    ``pose.covariance[14]``.
    """
    out = Detection2DArray()
    out.header = header
    for i, det in enumerate(detections):
        d = Detection2D()
        d.header = header
        d.id = det.id or str(i)
        d.bbox.center.position.x = float(0.5 * (det.x1 + det.x2))
        d.bbox.center.position.y = float(0.5 * (det.y1 + det.y2))
        d.bbox.size_x = float(det.x2 - det.x1)
        d.bbox.size_y = float(det.y2 - det.y1)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = det.class_name
        hyp.hypothesis.score = float(det.score)
        if not math.isnan(det.depth) or det.position is not None:
            _set_depth_pose(hyp, det)
        d.results = [hyp]
        out.detections.append(d)
    return out


def msg_to_detections(msg: Detection2DArray) -> list[Detection]:
    """The best hypothesis of every Detection2D as a Detection (box in pixels, axis-aligned)."""
    out = []
    for i, d in enumerate(msg.detections):
        cx, cy = d.bbox.center.position.x, d.bbox.center.position.y
        hw, hh = 0.5 * d.bbox.size_x, 0.5 * d.bbox.size_y
        if d.results:
            best = max(d.results, key=lambda r: r.hypothesis.score)
            name, score = best.hypothesis.class_id, best.hypothesis.score
        else:
            name, score = '', math.nan
        out.append(Detection(class_name=name, score=float(score), x1=cx - hw, y1=cy - hh, x2=cx + hw, y2=cy + hh,
                             id=d.id or str(i), extra={'msg': d}))
    return out


def _set_depth_pose(hyp: ObjectHypothesisWithPose, det: Detection) -> None:
    pos = hyp.pose.pose.position
    if det.position is not None:
        pos.x, pos.y, pos.z = (float(v) for v in det.position)
    else:
        pos.x, pos.y, pos.z = 0.0, 0.0, float(det.depth)
    cov = [0.0] * 36
    cov[14] = float(det.depth_variance)
    hyp.pose.covariance = cov


def fused_detections_to_msg(detections: Iterable[Detection], header: Any) -> Detection2DArray:
    """Fused detections as a Detection2DArray carrying ``header`` unchanged.

    A detection read from a Detection2D (``extra['msg']``, see ``msg_to_detections``) is republished as that message,
    every hypothesis unchanged except its pose: position z = depth in metres (NaN when not measurable), x/y
    back-projected when known, variance in ``covariance[14]``.
    """
    out = Detection2DArray()
    out.header = header
    for i, det in enumerate(detections):
        d = det.extra.get('msg')
        if d is None:
            d = detections_to_msg([det], header).detections[0]
            d.id = det.id or str(i)
        for hyp in d.results:
            _set_depth_pose(hyp, det)
        out.detections.append(d)
    return out


def detections_to_3d_msg(detections: Iterable[Detection], header: Any, intrinsics: CameraIntrinsics,
                         ) -> Detection3DArray:
    """Detections with a back-projected position as a Detection3DArray (optical frame of ``header``).

    The box centre is the back-projected point; its x/y size is the 2D box's size at that depth (``intrinsics`` of the
    detections' image); its z size (unseen by the camera) is taken as the smaller of the two.
    """
    out = Detection3DArray()
    out.header = header
    for i, det in enumerate(detections):
        if det.position is None or not math.isfinite(det.depth):
            continue
        d = Detection3D()
        d.header = header
        d.id = det.id or str(i)
        src = det.extra.get('msg')
        results = list(src.results) if src is not None else detections_to_msg([det], header).detections[0].results
        for hyp in results:
            _set_depth_pose(hyp, det)
        d.results = results
        center = d.bbox.center
        center.position.x, center.position.y, center.position.z = (float(v) for v in det.position)
        center.orientation.w = 1.0
        size_x = abs(det.width) * det.depth / intrinsics.fx
        size_y = abs(det.height) * det.depth / intrinsics.fy
        d.bbox.size.x, d.bbox.size.y, d.bbox.size.z = float(size_x), float(size_y), float(min(size_x, size_y))
        out.detections.append(d)
    return out

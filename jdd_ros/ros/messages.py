"""vision_msgs/sensor_msgs <-> jdd_ros core records."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from jdd_ros.detection import Detection


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
            pos = hyp.pose.pose.position
            if det.position is not None:
                pos.x, pos.y, pos.z = (float(v) for v in det.position)
            else:
                pos.z = float(det.depth)
            cov = [0.0] * 36
            cov[14] = float(det.depth_variance)
            hyp.pose.covariance = cov
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

"""fusion_node's objects over time: track IDs into the fused detections, and the topics built from the tracks.

- ``tracks`` (jdd_ros_msgs/TrackedObjectArray): every kept object of the frame with its track ID, smoothed distance,
  range rate, time to contact (with variances) and age;
- ``ttc_alerts`` (the same type): only those whose time to contact is below ``min_ttc``, every frame (empty when none:
  a safety monitor also sees that the stream is alive);
- ``detections_points`` (sensor_msgs/PointCloud2, x y z float32): the back-projected point of each kept object (those
  within ``max_depth``), in the camera frame of the input header: a PointCloud source for Nav2's Collision Monitor or
  an observation source of the voxel layer.

All carry the input image's header. The tracker (``jdd_ros.core.tracking``) follows header stamps only; a stamp that
goes back resets it, logged. The growth cue measures the scale change on the image inside the boxes where the
``image`` message of the detections' stamp has arrived (the latest IMAGES_KEPT grey frames are kept by stamp; the
camera's image usually comes before the detections made from it), and on the box sizes where it has not.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from jdd_ros_msgs.msg import TrackedObject, TrackedObjectArray
from rclpy.publisher import Publisher
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header

from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import FusionResult
from jdd_ros.core.image_scale import to_grey
from jdd_ros.core.tracking import Tracker, TrackEstimate, objects_summary, track_of, track_result
from jdd_ros.io.image_codec import image_to_numpy, to_rgb8
from jdd_ros.ros.managed_node import ManagedNode
from jdd_ros.ros.messages import stamp_ns

TRACKS_TOPIC, ALERTS_TOPIC, POINTS_TOPIC = 'tracks', 'ttc_alerts', 'detections_points'
# Grey frames waiting for the detections of their stamp: the fused output lags the camera by 1-2 frames at 30 Hz,
# by 4-6 at 60 Hz (latency p50 62-90 ms measured with 60 Hz input); 2.4 MB at 640x480.
IMAGES_KEPT = 8


def tracked_object(det: Detection, est: TrackEstimate) -> TrackedObject:
    """One TrackedObject: the detection's box and class with its track's estimates."""
    msg = TrackedObject(id=str(est.track_id), class_id=det.class_name, score=float(det.score))
    cx, cy = det.center
    msg.bbox.center.position.x, msg.bbox.center.position.y = float(cx), float(cy)
    msg.bbox.size_x, msg.bbox.size_y = float(det.width), float(det.height)
    msg.distance, msg.distance_variance = float(est.distance_m), float(est.distance_variance)
    msg.range_rate, msg.range_rate_variance = float(est.range_rate_mps), float(est.range_rate_variance)
    msg.time_to_contact, msg.time_to_contact_variance = float(est.ttc_s), float(est.ttc_variance)
    msg.time_to_contact_depth, msg.time_to_contact_box = float(est.ttc_depth_s), float(est.ttc_box_s)
    msg.age, msg.hits = float(est.age_s), int(est.hits)
    return msg


def points_cloud(points: list[tuple[float, float, float]], header: Header) -> PointCloud2:
    """An unorganized PointCloud2 (x, y, z float32, little-endian) of ``points`` carrying ``header``."""
    cloud = PointCloud2(height=1, width=len(points), is_bigendian=False, point_step=12, row_step=12 * len(points),
                        is_dense=True)
    cloud.header = header
    cloud.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                    for i, n in enumerate('xyz')]
    cloud.data = np.asarray(points, dtype='<f4').reshape(-1, 3).tobytes()
    return cloud


def below_min_ttc(est: TrackEstimate | None, min_ttc: float) -> bool:
    """Whether an object's time to contact is known and below ``min_ttc`` (0 alerts on nothing)."""
    return est is not None and math.isfinite(est.ttc_s) and est.ttc_s < min_ttc


class ObjectTracking:
    """The tracker of a fusion node and its three outputs (lifecycle publishers of ``node``)."""

    def __init__(self, node: ManagedNode) -> None:
        self.node, self.tracker = node, Tracker()
        self.summary = 'none'  # the kept objects of the latest frame in one line (diagnostics, jdd-ros status)
        self.ttc_by_id: dict[str, float] = {}  # the latest frame's track ID -> time to contact (RViz labels)
        self.pub_tracks = node.advertise(TrackedObjectArray, TRACKS_TOPIC)
        self.pub_alerts = node.advertise(TrackedObjectArray, ALERTS_TOPIC)
        self.pub_points = node.advertise(PointCloud2, POINTS_TOPIC)
        self.greys: OrderedDict[int, np.ndarray] = OrderedDict()  # stamp -> grey frame, the latest IMAGES_KEPT

    def on_image(self, msg: Image) -> None:
        """Keep a checked colour image (``colour_image_size`` passed) as a grey frame for the detections of its
        stamp (none while ttc_image_objects is 0: box sizes only)."""
        if self.node.params.current.ttc_image_objects == 0:
            self.greys.clear()
            return
        self.greys[stamp_ns(msg.header)] = to_grey(to_rgb8(image_to_numpy(msg), msg.encoding))
        while len(self.greys) > IMAGES_KEPT:
            self.greys.popitem(last=False)

    def on_frame(self, result: FusionResult, header: Header) -> None:
        """Track one fused frame (``core.tracking.track_result``: the detections get their track IDs), publish the
        kept ones' tracks, alerts and points."""
        budget = self.node.params.current.ttc_image_objects
        update = track_result(self.tracker, result, stamp_ns(header), self.greys.pop(stamp_ns(header), None), budget)
        if update.reset:
            previous = update.previous_stamp_ns
            self.node.get_logger().warning(
                f'stamp went back from {previous / 1e9:.3f} to {stamp_ns(header) / 1e9:.3f} s (looping bag or '
                'restarted source): tracks reset, IDs start again at 1')
        tracked = [(d, track_of(d)) for d in result.kept if track_of(d) is not None]
        objects = [tracked_object(d, est) for d, est in tracked]
        min_ttc = float(self.node.params.current.min_ttc)
        self._publish(self.pub_tracks, objects, header)
        self._publish(self.pub_alerts, [o for o, (_, est) in zip(objects, tracked) if below_min_ttc(est, min_ttc)],
                      header)
        self.summary = objects_summary(result.kept)
        self.ttc_by_id = {o.id: o.time_to_contact for o in objects}
        points = [d.position for d in result.kept if d.position is not None and math.isfinite(d.depth)]
        self.pub_points.publish(points_cloud(points, header))

    @staticmethod
    def _publish(pub: Publisher, objects: list[TrackedObject], header: Header) -> None:
        msg = TrackedObjectArray(objects=objects)
        msg.header = header
        pub.publish(msg)

"""RViz markers for the detections with a 3D position (visualization_msgs/MarkerArray), built from detections_3d.

Per fused frame one MarkerArray in the camera's frame_id with the input stamp: first a DELETEALL for each of the two
namespaces, then per object a box (its 3D box: centre and size as in detections_3d) and a text label above it
("#3 chair 1.75 m TTC 4.1 s": track ID, class, distance along the optical axis, time to contact while closing).
RViz applies the markers of one array in order within one update, so objects that are gone disappear and the others
are replaced without blinking, and nothing lingers (no lifetimes to tune against the frame rate). The array is built
and published only while someone subscribes.
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections.abc import Mapping, Sequence

from rclpy.node import Node
from std_msgs.msg import Header
from vision_msgs.msg import Detection3D, Detection3DArray
from visualization_msgs.msg import Marker, MarkerArray

from jdd_ros.core.detection import Detection
from jdd_ros.io.detection_msgs import has_3d
from jdd_ros.ros.qos import advertise

MARKERS_TOPIC = 'detection_markers'
BOXES_NS, LABELS_NS = 'detection_boxes', 'detection_labels'  # RViz can show or hide each namespace
LABEL_HEIGHT_M = 0.12  # text height; the label sits this far above the box's top
BOX_ALPHA = 0.4
MIN_SIZE_M = 0.01  # RViz refuses a zero scale: a degenerate box is drawn this thin


def label_text(class_id: str, depth_m: float, source: str = '', track_id: str = '', ttc_s: float = math.nan) -> str:
    """'chair 2.25 m floor': class, distance and what gave it ('depth' image or 'floor' geometry) when known; a
    tracked object also its ID and, while it closes, its time to contact: '#3 chair 1.75 m depth TTC 4.1 s'."""
    text = f'{class_id} {depth_m:.2f} m' + (f' {source}' if source else '')
    if track_id:
        text = f'#{track_id} {text}'
    return text + (f' TTC {ttc_s:.1f} s' if math.isfinite(ttc_s) else '')


def distance_sources(kept: Sequence[Detection]) -> list[str]:
    """What gave the distance (``extra['depth_source']``) of each detection in detections_3d, in its order."""
    return [d.extra.get('depth_source', '') for d in kept if has_3d(d)]


def class_color(class_id: str) -> tuple[float, float, float]:
    """A colour of its own for each class name, the same in every run."""
    hue = (zlib.crc32(class_id.encode()) % 360) / 360.0
    return colorsys.hsv_to_rgb(hue, 0.85, 1.0)


def _best_class(detection: Detection3D) -> str:
    if not detection.results:
        return ''
    return max(detection.results, key=lambda r: r.hypothesis.score).hypothesis.class_id


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _marker(header: Header, ns: str, marker_id: int, kind: int) -> Marker:
    m = Marker(ns=ns, id=marker_id, type=kind, action=Marker.ADD)
    m.header = header
    m.pose.orientation.w = 1.0
    return m


def detection_markers(detections_3d: Detection3DArray | None, header: Header, sources: Sequence[str] = (),
                      ttc_by_id: Mapping[str, float] | None = None) -> MarkerArray:
    """The markers of one frame: DELETEALL per namespace, then a box and a label per 3D detection (none when
    ``detections_3d`` is None, e.g. without camera_info: the previous frame's markers are then deleted); ``sources``
    (one per 3D detection) say in each label what gave the distance; with ``ttc_by_id`` (track ID -> time to
    contact) the labels of tracked objects show their ID and time to contact."""
    out = MarkerArray()
    for ns in (BOXES_NS, LABELS_NS):
        clear = Marker(ns=ns, id=0, action=Marker.DELETEALL)
        clear.header = header
        out.markers.append(clear)
    for i, d in enumerate(detections_3d.detections if detections_3d is not None else []):
        c, size = d.bbox.center.position, d.bbox.size
        if not _finite(c.x, c.y, c.z, size.x, size.y, size.z):
            continue
        name = _best_class(d)
        box = _marker(header, BOXES_NS, i + 1, Marker.CUBE)
        box.pose = d.bbox.center
        box.scale.x, box.scale.y, box.scale.z = (max(float(s), MIN_SIZE_M) for s in (size.x, size.y, size.z))
        box.color.r, box.color.g, box.color.b = class_color(name)
        box.color.a = BOX_ALPHA
        text = _marker(header, LABELS_NS, i + 1, Marker.TEXT_VIEW_FACING)
        # Optical frame: y points down, so "above the box" is towards -y.
        text.pose.position.x, text.pose.position.z = c.x, c.z
        text.pose.position.y = c.y - max(size.y, MIN_SIZE_M) / 2 - LABEL_HEIGHT_M
        text.scale.z = LABEL_HEIGHT_M
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        tracked = ttc_by_id is not None and d.id in ttc_by_id
        text.text = label_text(name, c.z, sources[i] if i < len(sources) else '', d.id if tracked else '',
                               ttc_by_id[d.id] if tracked else math.nan)
        out.markers += [box, text]
    return out


class DetectionMarkers:
    """The node's MarkerArray publisher (``detection_markers``): ``publish`` does nothing while no one subscribes."""

    def __init__(self, node: Node, topic: str = MARKERS_TOPIC, lifecycle: bool = False):
        self._pub = advertise(node, MarkerArray, topic, lifecycle=lifecycle)

    @property
    def watched(self) -> bool:
        return self._pub.get_subscription_count() > 0

    def publish(self, detections_3d: Detection3DArray | None, header: Header, sources: Sequence[str] = (),
                ttc_by_id: Mapping[str, float] | None = None) -> None:
        """Markers for one fused frame: ``detections_3d`` as published (None when there is no 3D output), with what
        gave each one's distance (``distance_sources``) and the tracks' times to contact by ID."""
        if self.watched:
            self._pub.publish(detection_markers(detections_3d, header, sources, ttc_by_id))

"""A node's health on /diagnostics: one diagnostic_msgs/DiagnosticStatus per node, once per second.

Thin ROS side of ``jdd_ros.core.health`` (which holds the rules, the rates and the percentiles): a node constructs
``NodeDiagnostics`` (or one of the two helpers below for the jdd_ros nodes) with a callable that reads its counters,
and calls ``published(header)`` after each output so that the latency (input header stamp -> publish, on the node's
clock, so use_sim_time works) is known. The period runs on a steady clock: a paused bag under use_sim_time does not
stop the diagnostics. QoS incompatibilities are looked up in the ROS graph at every period, so an incompatible peer
shows as ERROR while it exists and no longer once it has gone.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSCompatibility, QoSProfile, qos_check_compatible
from rclpy.topic_endpoint_info import TopicEndpointInfo
from std_msgs.msg import Header

from jdd_ros.core.fusion import FusionCounters
from jdd_ros.core.health import (
    LIFECYCLE_STATE,
    PACKAGE,
    PUBLISH_PERIOD_S,
    TRACKED_OBJECTS,
    UNKNOWN,
    WARN,
    Health,
    HealthSpec,
)
from jdd_ros.core.log_throttle import ProblemThrottle
from jdd_ros.core.stamp_join import JoinCounters
from jdd_ros.inference.hashing import sha256_of
from jdd_ros.param_types import FusionNodeParams
from jdd_ros.params import SCHEMA
from jdd_ros.ros.frame_stats import FrameStats
from jdd_ros.ros.fusion_inputs import FusionInputs
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.parameters import NodeParameters
from jdd_ros.ros.qos import advertise, output_qos

if TYPE_CHECKING:
    from jdd_ros.depth.model import DepthModel
    from jdd_ros.detect.base import Detector

DIAGNOSTICS_TOPIC = '/diagnostics'  # absolute: a node in a namespace still reports where the tools listen
NOT_CHECKED_TOPICS = frozenset({'/rosout', '/parameter_events', DIAGNOSTICS_TOPIC, '/clock'})
ERROR_LOG_PERIOD_S = 60.0  # the same failure to publish is logged at most this often
SHA256_PREFIX = 16  # hex digits of the model's sha256 shown (as in the start-up log)

Reading = tuple[Mapping[str, int], Sequence[tuple[str, str]]]  # (cumulative counters, further key-values)


def _peer(info: TopicEndpointInfo) -> str:
    return f"{info.node_namespace.rstrip('/')}/{info.node_name}"


def _reason(text: str) -> str:
    """The middleware's reason ('ERROR: Best effort publisher and reliable subscription;') as a phrase."""
    return text.strip().removeprefix('ERROR:').strip().rstrip(';').strip()


def _is_own(info: TopicEndpointInfo, node: Node) -> bool:
    return info.node_name == node.get_name() and info.node_namespace == node.get_namespace()


def _incompatible(topic: str, local_qos: QoSProfile, peers: list[TopicEndpointInfo], own: list[TopicEndpointInfo],
                  we_publish: bool) -> list[str]:
    """The ``peers`` on ``topic`` that the node's endpoint cannot match. The endpoint's QoS is taken from its entries
    in the graph (``own``) where they are there, as the middleware applied it: the local profile (``local_qos``) has
    0 for 'default' durations, which compare as unset against a peer's 'infinite' ones and look incompatible."""
    ours = [info.qos_profile for info in own] or [local_qos]
    found = []
    for info in peers:
        for qos in ours:
            pub_qos, sub_qos = (qos, info.qos_profile) if we_publish else (info.qos_profile, qos)
            compatible, reason = qos_check_compatible(pub_qos, sub_qos)
            if compatible == QoSCompatibility.ERROR:
                role = 'subscriber' if we_publish else 'publisher'
                found.append(f"incompatible QoS on '{topic}' with {role} {_peer(info)}: {_reason(reason)}")
                break
    return found


def qos_problems(node: Node) -> list[str]:
    """Each endpoint of ``node`` that has a peer it cannot match (QoS incompatible), as one line each."""
    found = []
    for sub in list(node.subscriptions):
        if sub.topic_name not in NOT_CHECKED_TOPICS:
            publishers = node.get_publishers_info_by_topic(sub.topic_name)
            own = [i for i in node.get_subscriptions_info_by_topic(sub.topic_name) if _is_own(i, node)]
            found += _incompatible(sub.topic_name, sub.qos_profile, publishers, own, we_publish=False)
    for pub in list(node.publishers):
        if pub.topic_name not in NOT_CHECKED_TOPICS:
            subscribers = node.get_subscriptions_info_by_topic(pub.topic_name)
            own = [i for i in node.get_publishers_info_by_topic(pub.topic_name) if _is_own(i, node)]
            found += _incompatible(pub.topic_name, pub.qos_profile, subscribers, own, we_publish=True)
    return found


def _text(value: object) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(str(v) for v in value) + ']'
    return str(value)


def run_time_settings(schema_name: str, current: object) -> list[tuple[str, str]]:
    """The node's run-time parameters (thresholds, modes) as they apply to the next frame."""
    return [(spec.name, _text(getattr(current, spec.name))) for spec in SCHEMA[schema_name] if spec.dynamic]


def model_name(params: object) -> str:
    """The model file a node runs (file name), or the known model's name."""
    for attr in ('onnx_model', 'checkpoint', 'weights'):
        if getattr(params, attr, ''):
            return Path(getattr(params, attr)).name
    return getattr(params, 'model', '') or UNKNOWN


class NodeDiagnostics:
    """Publishes ``node``'s status on /diagnostics every PUBLISH_PERIOD_S.

    ``read()`` returns the node's cumulative counters (named as in ``spec``) and further key-values (backend, model,
    settings); it runs in the executor thread. ``published(header)`` may be called from any thread.
    """

    def __init__(self, node: Node, hardware_id: str, spec: HealthSpec, read: Callable[[], Reading]):
        self._node = node
        self.name = node.get_fully_qualified_name().lstrip('/')
        self.hardware_id = hardware_id
        self._read = read
        self._lock = threading.Lock()
        self._errors = ProblemThrottle(ERROR_LOG_PERIOD_S)  # the executor thread only
        self.health = Health(spec, time.monotonic(), read()[0])
        self._pub = advertise(node, DiagnosticArray, DIAGNOSTICS_TOPIC, output_qos(10))
        self._timer = node.create_timer(PUBLISH_PERIOD_S, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def published(self, header: Header) -> None:
        """One output for the input of ``header`` was just published: its latency on the node's clock."""
        now_ns = self._node.get_clock().now().nanoseconds
        if now_ns == 0:  # use_sim_time before the first /clock message: no time to compare the stamp with
            return
        with self._lock:
            self.health.latency(time.monotonic(), (now_ns - stamp_ns(header)) / 1e9)

    def status(self) -> DiagnosticStatus:
        totals, info = self._read()
        problems = qos_problems(self._node)
        with self._lock:
            assessment = self.health.assess(time.monotonic(), totals, problems)
        level, message = assessment.level, assessment.message
        state = getattr(self._node, 'lifecycle_state', 'active')
        if state != 'active':  # a managed node not (yet) activated reads no input: say so, not 'no input'
            level, message = WARN, f"not active (lifecycle state '{state}'): no input is read"
        status = DiagnosticStatus(level=bytes([level]), name=self.name, message=message, hardware_id=self.hardware_id)
        values = [*assessment.values, (LIFECYCLE_STATE, state), *info, (PACKAGE, 'jdd_ros')]
        status.values = [KeyValue(key=k, value=v) for k, v in values]
        return status

    def publish(self) -> None:
        try:
            msg = DiagnosticArray(status=[self.status()])
            msg.header.stamp = self._node.get_clock().now().to_msg()
            self._pub.publish(msg)
        except Exception as exc:  # noqa: BLE001 - reporting health must never stop the node
            if self._errors.allow('diagnostics not published', f'{type(exc).__name__}: {exc}', time.monotonic()):
                self._node.get_logger().error(f'diagnostics not published: {type(exc).__name__}: {exc}')


FRAME_COUNTERS = ('frames received', 'frames inferred', 'frames skipped', 'frames lost', 'frames refused',
                  'inference failures', 'stamps backwards')


def frame_totals(frames: FrameStats | None) -> dict[str, int]:
    """The counters of depth_node / detector_node from their FrameStats (None: not configured yet, all 0)."""
    if frames is None:
        return dict.fromkeys(FRAME_COUNTERS, 0)
    c = frames.counts
    return dict(zip(FRAME_COUNTERS, (c['received'], c['inferred'], c['skipped'], c['lost'], c['bad'], c['failed'],
                                     c['stamp_backwards'])))


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str) -> str:
    try:
        return sha256_of(path)
    except OSError:
        return ''


def model_sha256(model: Detector | DepthModel | None, params: object) -> str:
    """The model's own digest (``model.sha256``), else that of the model file the parameters name, else ''."""
    digest = model.sha256 if model is not None else ''
    if digest:
        return digest
    path = next((getattr(params, a) for a in ('onnx_model', 'checkpoint', 'weights') if getattr(params, a, '')), '')
    return _file_sha256(str(Path(path).expanduser())) if path else ''


def withheld_counter(cause: str) -> str:
    """The diagnostics counter of frames given no output for ``cause``."""
    return f'frames without output ({cause})'


def frame_node_diagnostics(node: Node, schema_name: str,
                           parts: Callable[[], tuple[FrameStats | None, Detector | DepthModel | None]],
                           params: NodeParameters, withheld_causes: Sequence[str] = (),
                           extra_info: Callable[[], list[tuple[str, str]]] | None = None) -> NodeDiagnostics:
    """Diagnostics of depth_node and detector_node. ``parts()`` returns their (FrameStats, model), each None while
    the node is not configured. The model gives ``backend``, ``device`` and ``sha256``; ``params`` is the node's
    NodeParameters. ``withheld_causes``: the causes for which the node gives a frame no output (each a counter, WARN
    while it grows); ``extra_info()``: further key-values (the depth node's floor scale)."""
    image_topic = node.resolve_topic_name('image')

    def read() -> Reading:
        frames, model = parts()
        p = params.current
        sha = model_sha256(model, p)
        info = [('input topic', frames.topic if frames is not None else image_topic),
                ('backend', model.backend if model is not None else UNKNOWN),
                ('device', (model.device if model is not None else '') or p.device), ('model', model_name(p)),
                ('model sha256', sha[:SHA256_PREFIX] if sha else UNKNOWN)]
        totals = frame_totals(frames)
        withheld = frames.withheld_counts if frames is not None else {}
        totals.update({withheld_counter(c): withheld.get(c, 0) for c in withheld_causes})
        return totals, info + (extra_info() if extra_info else []) + run_time_settings(schema_name, p)

    spec = HealthSpec(inputs={'frames received': image_topic}, published='frames inferred',
                      refused=('frames refused',), failed=('inference failures',),
                      withheld=tuple(withheld_counter(c) for c in withheld_causes))
    return NodeDiagnostics(node, model_name(params.current), spec, read)


class FusionDiagnostics(NodeDiagnostics):
    """Diagnostics of fusion_node: ``received(side)`` for each depth / detections message; ``inputs()`` gives the
    node's FusionInputs (counters, join, camera intrinsics), None while it is not configured."""

    SIDES = ('depth', 'detections')

    def __init__(self, node: Node, params: NodeParameters[FusionNodeParams], inputs: Callable[[], FusionInputs | None],
                 objects: Callable[[], str] = lambda: 'none', state_lock: threading.Lock | None = None):
        sides = ('detections',) if params.current.depth_source == 'ground' else self.SIDES  # ground: no depth topic
        self._received = dict.fromkeys(sides, 0)
        topics = {side: node.resolve_topic_name(side) for side in sides}
        spec = HealthSpec(inputs={f'{side} received': topics[side] for side in sides}, published='pairs fused',
                          refused=('pairs refused', 'bad messages'))

        def read() -> Reading:
            with state_lock or contextlib.nullcontext():  # the node's inputs may change in another thread
                return read_state()

        def read_state() -> Reading:
            state = inputs()
            totals = self._totals(state.counters if state else FusionCounters(),  # None: not configured yet
                                  state.join.counters if state else JoinCounters())
            intrinsics = state.intrinsics if state else None
            camera = str(intrinsics) if intrinsics is not None else 'none yet: detections_3d not published'
            info = [('input topics', ' + '.join(topics.values())), ('camera_info', camera),
                    (TRACKED_OBJECTS, objects())]
            return totals, info + run_time_settings('fusion_node', params.current)

        super().__init__(node, ' + '.join(topics.values()), spec, read)

    def _totals(self, fusion: FusionCounters, join: JoinCounters) -> dict[str, int]:
        with self._lock:
            totals = {f'{side} received': n for side, n in self._received.items()}
        totals.update({
            'pairs fused': fusion.pairs, 'pairs refused': fusion.refused_pairs,
            'bad messages': sum(fusion.bad_messages.values()),
            'frames lost': sum(join.evicted.values()),  # halves evicted without their partner
            'detections kept': fusion.kept, 'detections dropped': fusion.dropped_far + fusion.dropped_near
            + fusion.dropped_unmeasured + sum(fusion.dropped_unreadable.values()),
            'detections without a distance': sum(fusion.no_distance.values()),
            'duplicate stamps': join.duplicates, 'time jumps': join.resets,
        })
        return totals

    def received(self, side: str) -> None:
        with self._lock:
            self._received[side] += 1

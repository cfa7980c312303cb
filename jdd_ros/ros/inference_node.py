"""The shell of a node that runs a network on camera frames (depth_node, detector_node).

The ``image`` subscription's callback only hands each message to a NewestFrameWorker, which infers the newest frame
once in its own thread: a slow model skips frames (counted and logged) instead of falling behind the camera, and the
executor stays free to answer parameter changes and lifecycle requests while a frame is inferred. In the one-process
pipeline the depth and detector nodes share one ``LockstepFrames`` instead, so both infer the same frames, and only
one of them subscribes to the camera (the feeder); with several cameras their nodes also share one loaded model per
network (``SharedModels``), one frame at a time. There the node that subscribes also hands every camera frame to the
fusion node of its camera in process (``LocalTopics``: its overlay and the tracks' growth cue), so each frame is
delivered and deserialised once in the process.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from rclpy.subscription import MessageInfo
from rclpy.timer import Timer
from sensor_msgs.msg import Image

from jdd_ros.core.silent_input import SilentInput
from jdd_ros.depth.model import DepthModel
from jdd_ros.detect.base import Detector
from jdd_ros.ros.adaptive_qos import steady_timer
from jdd_ros.ros.diagnostics import frame_node_diagnostics
from jdd_ros.ros.frame_stats import FrameStats
from jdd_ros.ros.graph import image_topics_in_graph
from jdd_ros.ros.local_topics import LocalTopics
from jdd_ros.ros.lockstep_frames import LockstepFrames, Member
from jdd_ros.ros.managed_node import ManagedNode
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.newest_frame import NewestFrameWorker
from jdd_ros.ros.shared_models import SharedModels, model_key
from jdd_ros.ros.stage_clock import StageClock

STATS_PERIOD_S = 10.0
SILENCE_CHECK_PERIOD_S = 1.0  # how often a silent input is looked at (the ROS graph only while it is silent)
M = TypeVar('M', Detector, DepthModel)


class InferenceNode(ManagedNode):
    """Subclasses implement ``load`` (configure: the model) and ``process(msg)`` (one frame, in the worker)."""

    WITHHELD_CAUSES: tuple[str, ...] = ()  # causes for which a frame gets no output (FrameStats.withheld)

    def __init__(self, node_name: str, schema_name: str, *, lockstep: LockstepFrames | None = None,
                 models: SharedModels | None = None, stage_clock: StageClock | None = None,
                 local: LocalTopics | None = None, **kwargs: Any):
        super().__init__(node_name, schema_name, **kwargs)
        self._local = local  # the pipeline's in-process hand-over of this camera's outputs (None: DDS only)
        self._local_names: dict[str, str] = {}  # output topic -> its resolved name, declared to ``local``
        self.frames: FrameStats | None = None
        self.model: Detector | DepthModel | None = None  # the network, once configured
        self.model_lock = threading.Lock()  # held while the network runs: shared with other cameras' nodes
        self.stage_clock = stage_clock  # per-frame stage stamps (the pipeline's --profile-stages); None: off
        self._schema_name = schema_name
        self._lockstep = lockstep
        self._models = models
        self._worker: NewestFrameWorker[Image] | None = None
        self._stats_timer: Timer | None = None
        self._silence_timer: Timer | None = None
        self._silence: SilentInput | None = None
        self.diagnostics = frame_node_diagnostics(self, schema_name, lambda: (self.frames, self.model), self.params,
                                                  self.WITHHELD_CAUSES, self.diagnostic_values)
        self._image_topic = ''  # the resolved input, once active
        self.provide_locally('image')  # every frame this node receives, to the fusion node of this process

    def provide_locally(self, topic: str) -> None:
        """Declare that every message published (or, for ``image``, received) on ``topic`` is also handed over in
        process (``hand_over``), so that a node of this process reading it takes it without a DDS subscription
        (``LocalTopics``)."""
        if self._local is not None:
            self._local_names[topic] = self.resolve_topic_name(topic)
            self._local.provide(self._local_names[topic])

    def hand_over(self, topic: str, msg: object) -> None:
        """``msg``, just published on ``topic``, to this process's listeners of it (in this thread)."""
        name = self._local_names.get(topic)
        if name is None:
            return
        try:
            self._local.offer(name, msg)
        except Exception as exc:  # noqa: BLE001 - the listener's bug: this node's frame was inferred and published
            self.get_logger().error(f"in-process hand-over of '{name}' failed in its reader: {type(exc).__name__}: "
                                    f'{exc}\n{traceback.format_exc()}', throttle_duration_sec=5.0)

    def inference_threads(self) -> int:
        """The ``threads`` parameter, or (0) every core of this process, also when two networks share them in the
        pipeline: the detector finishes first and the depth U-Net (twice its work) then has all the cores, where with
        one thread each the detector's core idles half of every frame. Measured with OpenVINO bf16 on 2 cores: 16-18
        against 14.5 frames/s on a quiet machine (2 threads each against 1 each), 1.05x and 0.97x with other jobs
        taking ~40 % of the CPU (benchmarks/bench_pipeline.py)."""
        return self.params.current.threads or len(os.sched_getaffinity(0))

    def diagnostic_values(self) -> list[tuple[str, str]]:
        """Further key-values for /diagnostics (executor thread)."""
        return []

    def obtain_model(self, build: Callable[[], M]) -> tuple[M, bool]:
        """``build()``, or (several cameras in one process) the model another camera's node built from the same
        start-up parameters, with its lock; True when built here. A shared model is logged once, by its builder."""
        if self._models is None:
            return build(), True
        shared, fresh = self._models.acquire(self._schema_name, model_key(self._schema_name, self.params.current),
                                             self.get_fully_qualified_name(), build)
        self.model_lock = shared.lock
        if not fresh:
            self.get_logger().info(f'using the model {shared.owner} loaded (one model for every camera of this '
                                   f'process: {len(shared.users)} nodes share it)')
        return shared.model, fresh

    def load(self) -> None:
        """Load the model (``self.model``) and create the publishers; raise ValueError/FileNotFoundError/RuntimeError
        saying why not."""

    def process(self, msg: Image) -> object:
        """Infer one frame and publish (worker thread)."""
        raise NotImplementedError

    def configure(self) -> None:
        self.load()
        self.frames = FrameStats(self.get_logger(), self.resolve_topic_name('image'))

    def activate(self) -> None:
        topic = self._image_topic = self.resolve_topic_name('image')
        feeder = self.get_name()
        if self._lockstep is not None:  # the frames of the member that subscribes (``feed``), maybe this node
            self._lockstep.join(Member(self.get_name(), self.process, self._refused, self.frames.replaced, topic=topic,
                                       feed=self._subscribe_image, on_received=self._received_by_feeder,
                                       on_lost=self.frames.lost))
            feeder = self._lockstep.feeder(topic)
        else:
            self._subscribe_image()
            self._worker = NewestFrameWorker(self.process, self._refused, name=f'{self.get_name()}_worker')
        self._stats_timer = steady_timer(self, STATS_PERIOD_S, self.frames.log_summary)
        self._silence = SilentInput(topic, time.monotonic())
        self._silence_timer = steady_timer(self, SILENCE_CHECK_PERIOD_S, self._check_silence)
        how = (f"subscribed to '{topic}'" if feeder == self.get_name() else
               f"infers the frames of '{topic}' that {feeder} receives (one subscription in this process)")
        self.get_logger().info(f'{how} (reliability {self.params.current.reliability}): waiting for images')

    def _subscribe_image(self) -> None:
        """This node subscribes to the camera (alone, or as its lockstep's feeder)."""
        lockstep, topic = self._lockstep, self._image_topic
        lost = self.frames.lost if lockstep is None else (lambda event: lockstep.lost(topic, event))
        self.subscribe(Image, 'image', self._on_image, message_lost=lost)

    def _received_by_feeder(self, info: MessageInfo | None) -> None:
        self.frames.received(info, False)  # replacements are reported to every member by on_replaced

    def cleanup(self) -> None:
        self.model = None
        if self._models is not None:
            self._models.release(self.get_fully_qualified_name())

    def deactivate(self) -> None:
        if self._lockstep is not None:
            self._lockstep.leave(self.get_name())
        if self._worker is not None:
            self._worker.stop(timeout=5.0)
            self._worker = None
        for timer in (self._stats_timer, self._silence_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._stats_timer = self._silence_timer = None

    def log_final_statistics(self) -> None:
        if self.frames is not None:
            if self._lockstep is not None:  # the frames in progress count; the other members stop too (the
                self._lockstep.stop()        # process ends: none of them takes over the camera's subscription)
            if self._worker is not None:
                self._worker.stop(timeout=5.0)  # the frame in progress counts
            self.frames.log_summary(final=True)
        if self.stage_clock is not None and self.stage_clock.path:
            self.stage_clock.write()

    def _on_image(self, msg: Image, info: MessageInfo) -> None:
        if self.stage_clock is not None:
            self.stage_clock.mark(self.frame_key(msg), f'{self.get_name()}: received')
        self.hand_over('image', msg)  # the fusion node's image, before the outputs made from it
        if self._lockstep is not None:
            self._lockstep.offer(msg, self._image_topic, info)  # counted as received by every member
            return
        worker = self._worker
        if worker is not None:
            self.frames.received(info, worker.offer(msg))

    def _check_silence(self) -> None:
        """After SILENT_AFTER_S without a frame: one warning naming the input and the image topics that exist."""
        now = time.monotonic()
        if self._silence is not None and self._silence.silent(now, self.frames.counts['received']):
            text = self._silence.report(now, image_topics_in_graph(self))
            if text:
                self.get_logger().warning(text)

    def _refused(self, msg: Image, exc: Exception) -> None:
        self.frames.refused(msg, exc)

    def frame_key(self, msg: Image) -> tuple[str, int]:
        """The stage clock's name for a frame: this camera's namespace and the image's stamp."""
        return self.get_namespace(), stamp_ns(msg.header)

    def mark(self, msg: Image, stage: str) -> None:
        """Stamp ``stage`` of this frame when the stages are profiled (a None check otherwise)."""
        if self.stage_clock is not None:
            self.stage_clock.mark(self.frame_key(msg), f'{self.get_name()}: {stage}')

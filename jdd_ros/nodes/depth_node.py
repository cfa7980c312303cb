"""depth_node: camera image -> metric depth image (32FC1 metres, REP 118) with the image's header unchanged.

Inference is slower than most cameras, so only the newest frame is inferred, once (``InferenceNode``); frames
replaced before the worker got to them are counted as skipped (and logged), never queued. The node will not configure
without a trained model: depth from random weights looks plausible in a viewer and is silently wrong.

A model that needs the camera (``output_kind: metric_focal``, ``alignment: ground``: docs/depth-model.md) also
subscribes ``camera_info`` and takes the camera's height, pitch and roll from the parameters at every frame; a frame
it cannot give metres (no camera_info yet, camera_height 0, too little floor in view) gets no depth, counted by cause.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.floor_scale import FLOOR_TOO_NARROW, NO_FLOOR_IN_VIEW, TOO_LITTLE_FLOOR, NoFloorError
from jdd_ros.core.ground import GroundGeometry
from jdd_ros.depth.colorize import colorize_depth, colour_scale_far
from jdd_ros.depth.estimator import NO_CAMERA_HEIGHT, NO_CAMERA_INFO, CameraNeeded
from jdd_ros.depth.model import DepthModel, build_depth_model, trust_warnings
from jdd_ros.io.camera_info import CameraInfoError, intrinsics_from_camera_info
from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
from jdd_ros.param_types import DepthNodeParams
from jdd_ros.ros.inference_node import InferenceNode
from jdd_ros.ros.messages import stamp_ns
from jdd_ros.ros.node_process import run_node


def camera_geometry(params: DepthNodeParams) -> GroundGeometry | None:
    """The camera's mounting from the node's parameters (read at every frame: ``ros2 param set`` applies from the
    next one); None while camera_height is 0 (unknown)."""
    if not params.camera_height > 0:
        return None
    return GroundGeometry(params.camera_height, params.camera_pitch, params.camera_roll)


class DepthNode(InferenceNode):
    model: DepthModel | None
    WITHHELD_CAUSES = (NO_CAMERA_INFO, NO_CAMERA_HEIGHT, NO_FLOOR_IN_VIEW, TOO_LITTLE_FLOOR, FLOOR_TOO_NARROW)

    def __init__(self, *, hand_over_depth: bool = False, **kwargs: Any):
        self.intrinsics: CameraIntrinsics | None = None  # from camera_info, for models that need the camera
        self.aligner: Any = None  # the floor alignment's state (alignment: ground)
        self.camera_info_refused = 0
        self.no_floor: NoFloorError | None = None  # the last frame whose floor could not fix the scale
        super().__init__('depth_node', 'depth_node', **kwargs)
        if hand_over_depth:  # the pipeline's fusion node takes it in process (pipeline --inprocess-depth)
            self.provide_locally('depth')

    def diagnostic_values(self) -> list[tuple[str, str]]:
        model = self.model
        if model is None or not model.needs_camera:
            return []
        values = [('camera_info', str(self.intrinsics) if self.intrinsics else 'none yet: no depth published'),
                  ('camera_info refused', str(self.camera_info_refused))]
        last = self.aligner.last if self.aligner is not None else None
        if last is not None:  # the last frame the floor fixed the scale of
            values += [('floor scale', f'{last.scale:.6g}'), ('floor shift', f'{last.shift:.6g}'),
                       ('floor scale drift (%)', f'{100 * last.drift:.1f}'),
                       ('floor fraction (%)', f'{100 * last.fit.floor_fraction:.1f}'),
                       ('floor fit residual (%)', f'{100 * last.fit.residual:.2f}')]
        if self.no_floor is not None:
            values += [('last frame without floor', self.no_floor.cause),
                       ('its floor fraction (%)', f'{100 * self.no_floor.floor_fraction:.1f}'),
                       ('its fraction below the horizon (%)', f'{100 * self.no_floor.candidate_fraction:.1f}')]
        return values

    def activate(self) -> None:
        super().activate()
        if self.model is not None and self.model.needs_camera:
            sub = self.subscribe(CameraInfo, 'camera_info', lambda m, _: self._on_camera_info(m))
            self.get_logger().info(f"the model needs the camera: subscribed to '{sub.topic_name}'; no depth until a "
                                   'calibrated camera_info arrives')

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = intrinsics_from_camera_info(msg)
        except CameraInfoError as exc:
            self.camera_info_refused += 1
            kept = 'the previous one stays in use' if self.intrinsics else 'no depth until a usable one arrives'
            self.get_logger().warning(f'camera_info ignored: {exc}; {kept} ({self.camera_info_refused} so far)',
                                      throttle_duration_sec=5.0)
            return
        changed, self.intrinsics = intrinsics != self.intrinsics, intrinsics  # in use before it is logged
        if changed:
            self.get_logger().info(f'camera_info: {intrinsics}')

    def load(self) -> None:
        estimator, fresh = self.obtain_model(lambda: build_depth_model(
            dataclasses.replace(self.params.current, threads=self.inference_threads()), camera=True))
        if fresh:
            self._log_model(estimator)
        self.model = estimator
        self.aligner = estimator.floor_aligner()  # per camera: the floor under each camera is its own
        self._pub_depth = self.advertise(Image, 'depth')
        self._pub_colored = self.advertise(Image, 'depth_colored')
        self.get_logger().info(f"publishing '{self._pub_depth.topic_name}' (32FC1 metres) and, with "
                               f"publish_colored, '{self._pub_colored.topic_name}'")

    def _log_model(self, estimator: DepthModel) -> None:
        """What was loaded, on which backend, and whether its file was verified (once per loaded model)."""
        log = self.get_logger()
        log.info(f'depth model: {estimator.description}')
        log.info(f'depth backend: {estimator.backend} {estimator.precision} on {self.params.current.device} '
                 f'({estimator.backend_reason})')
        if estimator.sha256_verified_against:
            log.info(f'model file sha256 {estimator.sha256} verified against {estimator.sha256_verified_against}')
        else:
            log.warning(f'model file sha256 {estimator.sha256} NOT verified: nothing to check it against; set '
                        'model_sha256 (or keep the .sha256 file jdd-ros train-depth writes beside the checkpoint)')
        for warning in trust_warnings(estimator):
            log.warning(warning)

    def process(self, msg: Image) -> None:
        t0 = time.perf_counter()
        self.mark(msg, 'started')
        self.frames.check_stamp(msg.header)
        rgb = to_rgb8(image_to_numpy(msg), msg.encoding)
        self.mark(msg, 'decoded')
        est = self.model
        batch = est.preprocess(rgb)[None]
        self.mark(msg, 'preprocessed')
        t_wait = time.perf_counter()
        with self.model_lock:  # another camera's frame may be in the network (several cameras, one model)
            t1 = time.perf_counter()
            self.mark(msg, 'network free')
            raw = est.run_network(batch)[0]
            t2 = time.perf_counter()
        self.mark(msg, 'inferred')
        p = self.params.current
        if est.needs_camera:
            try:
                depth, _ = est.postprocess_camera(raw, rgb.shape[:2], self.intrinsics, camera_geometry(p),
                                                  self.aligner, stamp_ns(msg.header) / 1e9)
            except (CameraNeeded, NoFloorError) as exc:
                if isinstance(exc, NoFloorError):
                    self.no_floor = exc
                self.frames.withheld(msg, exc.cause, str(exc))
                return
        else:
            depth = est.postprocess(raw, rgb.shape[:2])
        if p.max_depth > 0:
            depth = np.where(depth > p.max_depth, np.float32(np.nan), depth)
        out = fill_image(Image(), depth, '32FC1')
        out.header = msg.header
        self._pub_depth.publish(out)
        self.mark(msg, 'published')
        self.diagnostics.published(msg.header)
        self.hand_over('depth', out)
        if p.publish_colored:
            far = colour_scale_far(p.max_depth, est.meta.max_depth)
            colored = fill_image(Image(), colorize_depth(depth, far), 'rgb8')
            colored.header = msg.header
            self._pub_colored.publish(colored)
        t3 = time.perf_counter()
        self.frames.inferred(t2 - t1, (t_wait - t0) + (t3 - t2))


def main(args: list[str] | None = None) -> int:
    return run_node(DepthNode, args)


if __name__ == '__main__':
    raise SystemExit(main())

"""depth_node: camera image -> metric depth image (32FC1 metres, REP 118) with the image's header unchanged.

Inference is slower than most cameras, so the subscription callback only keeps the newest frame and a worker thread
infers it once; frames replaced before the worker got to them are counted as skipped (and logged), never queued. The
node will not start without a trained model: depth from random weights looks plausible in a viewer and is silently
wrong.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from jdd_ros.depth.colorize import colorize_depth
from jdd_ros.depth.model import build_depth_model
from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
from jdd_ros.ros.diagnostics import frame_node_diagnostics  # diagnostics hook (#12)
from jdd_ros.ros.frame_stats import FrameStats
from jdd_ros.ros.newest_frame import NewestFrameWorker
from jdd_ros.ros.parameters import NodeParameters
from jdd_ros.ros.qos import advertise, input_qos, subscribe
from jdd_ros.ros.runtime import run_node

STATS_PERIOD_S = 10.0


class DepthNode(Node):
    def __init__(self) -> None:
        super().__init__('depth_node')
        self.params = NodeParameters(self, 'depth_node')
        self.estimator = build_depth_model(self.params.current)
        log = self.get_logger()
        log.info(f'depth model: {self.estimator.description}')
        if self.estimator.sha256_verified_against:
            log.info(f'model file sha256 {self.estimator.sha256} verified against '
                     f'{self.estimator.sha256_verified_against}')
        else:
            log.warning(f'model file sha256 {self.estimator.sha256} NOT verified: nothing to check it against; set '
                        'model_sha256 (or keep the .sha256 file jdd-ros train-depth writes beside the checkpoint)')
        if self.estimator.meta.trained_on == 'synthetic':
            log.warning('!!! This depth model was trained on SYNTHETIC scenes only: its depth on real camera images '
                        'is NOT trustworthy. Use it for plumbing tests; train on NYU Depth v2 for real use. !!!')
        self._pub_depth = advertise(self, Image, 'depth')
        self._pub_colored = advertise(self, Image, 'depth_colored')
        self._sub = subscribe(self, Image, 'image', self._on_image, input_qos(self.params.current.reliability, 1))
        self.frames = FrameStats(log, self._sub.topic_name)
        self._worker = NewestFrameWorker(self._process, lambda msg, exc: self.frames.refused(msg, exc),
                                         name='depth_worker')
        self.create_timer(STATS_PERIOD_S, self.frames.log_summary)
        self.diagnostics = frame_node_diagnostics(  # diagnostics hook (#12)
            self, 'depth_node', lambda: (self.frames, self._worker, self.estimator), self.params)
        log.info(f"subscribed to '{self._sub.topic_name}'; publishing '{self._pub_depth.topic_name}' (32FC1 metres)"
                 f" and, with publish_colored, '{self._pub_colored.topic_name}'")

    def _on_image(self, msg: Image, info: Any) -> None:  # two parameters: rclpy then passes MessageInfo
        self.frames.received(info, self._worker.offer(msg))

    def _process(self, msg: Image) -> None:
        t0 = time.perf_counter()
        self.frames.check_stamp(msg.header)
        rgb = to_rgb8(image_to_numpy(msg), msg.encoding)
        est = self.estimator
        batch = est.preprocess(rgb)[None]
        t1 = time.perf_counter()
        raw = est.run_network(batch)[0]
        t2 = time.perf_counter()
        depth = est.postprocess(raw, rgb.shape[:2])
        p = self.params.current
        max_depth = p.max_depth
        if max_depth > 0:
            depth = np.where(depth > max_depth, np.float32(np.nan), depth)
        out = fill_image(Image(), depth, '32FC1')
        out.header = msg.header
        self._pub_depth.publish(out)
        self.diagnostics.published(msg.header)  # diagnostics hook (#12)
        if p.publish_colored:
            colored = fill_image(Image(), colorize_depth(depth, far=max_depth or None), 'rgb8')
            colored.header = msg.header
            self._pub_colored.publish(colored)
        t3 = time.perf_counter()
        self.frames.inferred(t2 - t1, (t1 - t0) + (t3 - t2))

    def destroy_node(self) -> None:
        worker = getattr(self, '_worker', None)  # absent when start-up failed (no model): nothing to stop
        if worker is not None:
            worker.stop(timeout=5.0)
            self.frames.log_summary(final=True)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(DepthNode, args)


if __name__ == '__main__':
    raise SystemExit(main())

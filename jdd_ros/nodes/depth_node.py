"""depth_node: camera image -> metric depth image (32FC1 metres, REP 118) with the image's header unchanged.

Inference is slower than most cameras, so only the newest frame is inferred, once (``InferenceNode``); frames
replaced before the worker got to them are counted as skipped (and logged), never queued. The node will not configure
without a trained model: depth from random weights looks plausible in a viewer and is silently wrong.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from jdd_ros.depth.colorize import colorize_depth
from jdd_ros.depth.model import build_depth_model
from jdd_ros.io.image_codec import fill_image, image_to_numpy, to_rgb8
from jdd_ros.ros.inference_node import InferenceNode
from jdd_ros.ros.runtime import run_node


class DepthNode(InferenceNode):
    def __init__(self, **kwargs: Any):
        super().__init__('depth_node', 'depth_node', **kwargs)

    def load(self) -> None:
        estimator = build_depth_model(dataclasses.replace(self.params.current, threads=self.inference_threads()))
        log = self.get_logger()
        log.info(f'depth model: {estimator.description}')
        log.info(f'depth backend: {estimator.backend} {estimator.precision} on {self.params.current.device} '
                 f'({estimator.backend_reason})')
        if estimator.sha256_verified_against:
            log.info(f'model file sha256 {estimator.sha256} verified against {estimator.sha256_verified_against}')
        else:
            log.warning(f'model file sha256 {estimator.sha256} NOT verified: nothing to check it against; set '
                        'model_sha256 (or keep the .sha256 file jdd-ros train-depth writes beside the checkpoint)')
        if estimator.meta.trained_on == 'synthetic':
            log.warning('!!! This depth model was trained on SYNTHETIC scenes only: its depth on real camera images '
                        'is NOT trustworthy. Use it for plumbing tests; train on NYU Depth v2 for real use. !!!')
        self.model = estimator
        self._pub_depth = self.advertise(Image, 'depth')
        self._pub_colored = self.advertise(Image, 'depth_colored')
        log.info(f"publishing '{self._pub_depth.topic_name}' (32FC1 metres) and, with publish_colored, "
                 f"'{self._pub_colored.topic_name}'")

    def process(self, msg: Image) -> None:
        t0 = time.perf_counter()
        self.frames.check_stamp(msg.header)
        rgb = to_rgb8(image_to_numpy(msg), msg.encoding)
        est = self.model
        batch = est.preprocess(rgb)[None]
        t1 = time.perf_counter()
        raw = est.run_network(batch)[0]
        t2 = time.perf_counter()
        depth = est.postprocess(raw, rgb.shape[:2])
        p = self.params.current
        if p.max_depth > 0:
            depth = np.where(depth > p.max_depth, np.float32(np.nan), depth)
        out = fill_image(Image(), depth, '32FC1')
        out.header = msg.header
        self._pub_depth.publish(out)
        self.diagnostics.published(msg.header)
        if p.publish_colored:
            colored = fill_image(Image(), colorize_depth(depth, far=p.max_depth or None), 'rgb8')
            colored.header = msg.header
            self._pub_colored.publish(colored)
        t3 = time.perf_counter()
        self.frames.inferred(t2 - t1, (t1 - t0) + (t3 - t2))


def main(args: list[str] | None = None) -> int:
    return run_node(DepthNode, args)


if __name__ == '__main__':
    raise SystemExit(main())

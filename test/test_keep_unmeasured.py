"""fusion_node's keep_unmeasured, the parameter added through docs/architecture.md's "Add a parameter" checklist
(one ParamSpec, regenerated files, one read in core.fusion): its effect in the core, in ``jdd-ros fuse`` (its flag
came from the schema) and in the node over DDS, changed at run time. The TUM desk frame's near chair is made
unmeasurable by blanking its depth pixels, as a sensor gives no depth on a black or shiny surface."""

from __future__ import annotations

import json
import math
import time

import cv2
import numpy as np
import pytest
from harness import NodeProcess, fixture, reference_median, yolov4_tiny_files
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from jdd_ros.cli import main
from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import fuse
from jdd_ros.param_types import FusionNodeParams as FusionSettings  # the node's snapshot

NEAR_CHAIR, FAR_CHAIR = (6, 272, 242, 480), (391, 217, 527, 425)  # boxes on the real chairs of the TUM desk frame


@pytest.fixture(scope='module')
def desk_without_near_chair_depth(tmp_path_factory):
    """The TUM desk depth PNG with the near chair's pixels invalid (0), as a sensor gives for a black or shiny
    surface: the chair is seen but has no measurable distance."""
    depth = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    depth[230:490, 0:250] = 0
    path = tmp_path_factory.mktemp('depth') / 'desk_near_chair_invalid_mm.png'
    cv2.imwrite(str(path), depth)
    return path, depth


def test_keep_unmeasured_keeps_what_has_no_distance_while_a_limit_is_set(desk_without_near_chair_depth):
    _, depth_mm = desk_without_near_chair_depth
    near, far = Detection('chair', 0.9, *NEAR_CHAIR), Detection('chair', 0.8, *FAR_CHAIR)
    depth_m = depth_mm.astype(np.float32) / 1000.0
    far_median = reference_median(depth_mm, far.xyxy(), scale=0.001)
    dropping = fuse([near, far], depth_m, FusionSettings(max_depth=far_median + 1.0))
    keeping = fuse([near, far], depth_m, FusionSettings(max_depth=far_median + 1.0, keep_unmeasured=True))
    assert [d.score for d in dropping.dropped_unmeasured] == [0.9] and [d.score for d in dropping.kept] == [0.8]
    assert sorted(d.score for d in keeping.kept) == [0.8, 0.9] and not keeping.dropped_unmeasured
    assert np.isnan([d.depth for d in keeping.kept if d.score == 0.9][0])
    assert keeping.no_distance == dropping.no_distance and sum(keeping.no_distance.values()) == 1
    # Without a limit nothing is dropped either way; a measured detection beyond the limit is dropped either way.
    assert len(fuse([near, far], depth_m, FusionSettings(keep_unmeasured=True)).kept) == 2
    assert fuse([far], depth_m, FusionSettings(max_depth=far_median - 0.5, keep_unmeasured=True)).dropped_far


def test_jdd_ros_fuse_keep_unmeasured_flag(desk_without_near_chair_depth, tmp_path):
    path, depth_mm = desk_without_near_chair_depth
    color = fixture('tum_desk_color.png')
    model = [arg for key, value in yolov4_tiny_files().items() for arg in (f'--{key}', value)]
    docs = {}
    for label, extra in (('default', []), ('keep', ['--keep-unmeasured'])):
        out = tmp_path / f'{label}.json'
        assert main(['fuse', str(color), '--depth-image', str(path), '--max-depth', '3.0', *model, *extra,
                     '--json', str(out)]) == 0
        docs[label] = json.loads(out.read_text())

    def unmeasured_chairs(records):
        return [d for d in records if d['class_name'] == 'chair' and d['depth_m'] is None]

    dropped = unmeasured_chairs(docs['default']['dropped'])
    assert len(dropped) == 1 and dropped[0]['dropped_reason'].startswith('no depth')
    assert not unmeasured_chairs(docs['default']['detections'])
    kept = unmeasured_chairs(docs['keep']['detections'])
    assert [d['bbox_xyxy'] for d in kept] == [d['bbox_xyxy'] for d in dropped]
    assert not unmeasured_chairs(docs['keep']['dropped'])
    measured = [d for d in docs['keep']['detections'] if d['depth_m'] is not None]
    assert measured == [d for d in docs['default']['detections'] if d['depth_m'] is not None]
    assert all(d['depth_m'] <= 3.0 for d in measured)


def _image(h: Header, mm: np.ndarray) -> Image:
    return Image(header=h, height=mm.shape[0], width=mm.shape[1], encoding='16UC1', step=mm.shape[1] * 2,
                 data=mm.tobytes())


def _detections(h: Header) -> Detection2DArray:
    out = Detection2DArray(header=h)
    for name, score, (x1, y1, x2, y2) in (('chair', 0.9, NEAR_CHAIR), ('chair', 0.8, FAR_CHAIR)):
        d = Detection2D(header=h)
        d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = name, score
        d.results = [hypothesis]
        out.detections.append(d)
    return out


def test_fusion_node_keep_unmeasured_set_at_run_time(ros_peer, domain_id, desk_without_near_chair_depth):
    _, mm = desk_without_near_chair_depth
    far_depth = reference_median(mm, FAR_CHAIR, scale=0.001)
    with NodeProcess('fusion_node', domain_id, params={'reliability': 'reliable', 'max_depth': 3.0}) as node:
        node.wait_for_output('fusion_node ready')
        depth, dets = ros_peer.publisher(Image, '/depth'), ros_peer.publisher(Detection2DArray, '/detections')
        out = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
        for pub in (depth, dets):
            ros_peer.wait_for_subscribers(pub)
        ros_peer.wait_for_publishers('/detections_with_depth')

        def fused(sec: int, timeout: float = 10.0) -> list[tuple[float, float]]:
            """(score, depth) of each published detection of the pair stamped ``sec``."""
            h = Header(frame_id='camera')
            h.stamp.sec = sec
            depth.publish(_image(h, mm))
            dets.publish(_detections(h))
            msg = out.wait_for(1, timeout, lambda m: m.header.stamp.sec == sec)[0]
            return [(d.results[0].hypothesis.score, d.results[0].pose.pose.position.z) for d in msg.detections]

        deadline = time.monotonic() + 20.0  # the output is volatile: pairs until one has come back
        for sec in range(100, 200):
            try:
                first = fused(sec, 0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, node.output
        assert [score for score, _ in first] == [pytest.approx(0.8)]  # the unmeasured near chair is dropped
        assert first[0][1] == pytest.approx(far_depth, abs=1e-3)
        [result] = ros_peer.set_parameters('/fusion_node', {'keep_unmeasured': True})
        assert result.successful, result.reason
        kept = fused(300)
        assert [score for score, _ in kept] == [pytest.approx(0.9), pytest.approx(0.8)]
        assert math.isnan(kept[0][1]) and kept[1][1] == pytest.approx(far_depth, abs=1e-3)
        [result] = ros_peer.set_parameters('/fusion_node', {'keep_unmeasured': 'yes'})
        assert not result.successful and 'keep_unmeasured must be of type bool' in result.reason
        assert 'keep_unmeasured set to True' in node.output

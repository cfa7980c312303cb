"""The threshold mode's masking (filter_mode: mask_then_detect), on the real TUM RGB-D frame."""

import time

import cv2
import numpy as np
import pytest
from harness import fixture, yolov4_tiny_files

from jdd_ros.core.masking import FILL_VALUE, depth_mask, mask_beyond


@pytest.fixture(scope='module')
def tum():
    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    depth = mm.astype(np.float32) / 1000.0
    depth[mm == 0] = np.nan
    return rgb, mm, depth


def test_pixels_beyond_the_threshold_or_unknown_are_grey_the_rest_untouched(tum):
    rgb, mm, depth = tum
    result = mask_beyond(rgb, depth, 2.0)
    near = (mm > 0) & (mm <= 2000)  # computed from the PNG's millimetres, independently of the metre conversion
    assert np.array_equal(result.image[near], rgb[near])
    assert (result.image[~near] == FILL_VALUE).all()
    assert result.kept_fraction == pytest.approx(near.mean())
    assert 0.05 < result.kept_fraction < 0.6  # the near chair and floor stay, the desk at 2.3-2.6 m goes
    assert not np.shares_memory(result.image, rgb)


def test_keep_invalid_keeps_pixels_of_unknown_depth(tum):
    rgb, mm, depth = tum
    result = mask_beyond(rgb, depth, 2.0, keep_invalid=True)
    keep = (mm == 0) | (mm <= 2000)
    assert np.array_equal(result.image[keep], rgb[keep])
    assert (result.image[~keep] == FILL_VALUE).all()


def test_no_threshold_returns_the_image_itself(tum):
    rgb, _, depth = tum
    result = mask_beyond(rgb, depth, 0.0)
    assert result.image is rgb and result.kept_fraction == 1.0


def test_a_depth_map_at_half_resolution_is_resized_to_the_image(tum):
    rgb, mm, depth = tum
    half = depth[::2, ::2]
    keep = depth_mask(half, 2.0, rgb.shape[:2])
    assert keep.shape == rgb.shape[:2]
    with np.errstate(invalid='ignore'):
        expected = np.repeat(np.repeat(half <= 2.0, 2, axis=0), 2, axis=1)
    assert (keep == expected).mean() > 0.99


@pytest.mark.parametrize('bad', [np.zeros((0, 0), np.float32), np.zeros((4, 4, 2), np.float32)])
def test_bad_depth_is_refused_with_its_shape(tum, bad):
    rgb, _, _ = tum
    with pytest.raises(ValueError, match='depth image'):
        mask_beyond(rgb, bad, 2.0)


def test_a_non_rgb_image_is_refused():
    with pytest.raises(ValueError, match='HxWx3 uint8'):
        mask_beyond(np.zeros((4, 4), np.uint8), np.ones((4, 4), np.float32), 1.0)


# ---- the detector node in filter_mode mask_then_detect, switched on at run time -----------------------------------

FAR_CHAIR = (391, 217, 527, 425)  # the far chair of the TUM frame (2.24 m), as yolov4-tiny finds it unmasked


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def _boxes(msg, name):
    out = []
    for d in msg.detections:
        if d.results[0].hypothesis.class_id == name:
            c, w, h = d.bbox.center.position, d.bbox.size_x, d.bbox.size_y
            out.append((c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2))
    return out


def test_detector_node_masks_beyond_max_depth_once_switched_to_mask_then_detect(tum, domain_id, ros_peer):
    from builtin_interfaces.msg import Time
    from harness import NodeProcess
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from jdd_ros.io.image_codec import fill_image

    rgb, mm, _ = tum
    params = {**yolov4_tiny_files(), 'reliability': 'reliable'}
    image_pub = ros_peer.publisher(Image, '/mask/image')
    depth_pub = ros_peer.publisher(Image, '/mask/depth')
    inbox = ros_peer.subscribe(Detection2DArray, '/mask/detections')
    image, depth = fill_image(Image(), rgb, 'rgb8'), fill_image(Image(), mm, '16UC1')

    def send(sec):
        for msg in (image, depth):
            msg.header.stamp, msg.header.frame_id = Time(sec=sec), 'cam'
        depth_pub.publish(depth)
        image_pub.publish(image)
        return inbox.wait_for(1, timeout=30, predicate=lambda m: m.header.stamp.sec == sec)[0]

    with NodeProcess('detector_node', domain_id, params=params, remap={'__ns': '/mask'}) as node:
        node.wait_for_output('waiting for images', timeout=90)
        ros_peer.wait_for_subscribers(image_pub)
        ros_peer.wait_for_publishers('/mask/detections')
        time.sleep(0.5)
        plain = send(10)
        assert any(_iou(b, FAR_CHAIR) > 0.8 for b in _boxes(plain, 'chair')), 'the far chair is seen unmasked'

        result = ros_peer.set_parameters('/mask/detector_node', {'filter_mode': 'mask_then_detect', 'max_depth': 2.0})
        assert all(r.successful for r in result)
        ros_peer.wait_for_subscribers(depth_pub)
        # The node subscribed to depth just now: repeat frame 11's depth until its side of the match is done too
        # (only a frame's own depth masks it; without one the node warns and detects on the whole frame).
        depth.header.stamp, depth.header.frame_id = Time(sec=11), 'cam'
        for _ in range(10):
            depth_pub.publish(depth)
            time.sleep(0.1)
        masked = send(11)
        assert not any(_iou(b, FAR_CHAIR) > 0.5 for b in _boxes(masked, 'chair')), node.output
        assert len(masked.detections) < len(plain.detections)  # the desk's bottles and books at 2.3-2.7 m are gone
        assert masked.header.stamp.sec == 11 and masked.header.frame_id == 'cam'
    assert 'masking with depth from' in node.output and 'no depth within' not in node.output

"""Synthetic RGB-D scenes: the depth is the exact ray-cast geometry, and the object list matches the depth map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.depth.synthetic_scenes import MIN_VISIBLE_PIXELS, render_scene

SEEDS = range(12)


@pytest.fixture(scope='module')
def scenes():
    return [render_scene(s) for s in SEEDS]


def _world_points(scene):
    """Back-project every pixel with its depth (pinhole model, independent of the renderer) into the world."""
    intr = scene.intrinsics
    v, u = np.mgrid[0:intr.height, 0:intr.width].astype(np.float64)
    z = scene.depth.astype(np.float64)
    cam = np.stack([(u - intr.cx) * z / intr.fx, (v - intr.cy) * z / intr.fy, z], axis=-1)
    return scene.camera_to_world(cam)


def test_same_seed_same_scene_and_seeds_differ():
    a, b, c = render_scene(7, 60, 80), render_scene(7, 60, 80), render_scene(8, 60, 80)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert not np.array_equal(a.depth, c.depth)
    assert a.rgb.dtype == np.uint8 and a.rgb.shape == (60, 80, 3)
    assert a.depth.dtype == np.float32 and a.depth.shape == (60, 80)


def test_depth_is_metric_and_in_the_model_range(scenes):
    for s in scenes:
        assert np.isfinite(s.depth).all()
        assert 0.3 < s.depth.min() and s.depth.max() < 10.0  # inside NYU's 0.1-10 m


def test_room_pixels_lie_on_the_room_planes(scenes):
    """Every pixel not on an object, back-projected with its depth, lies on the floor, ceiling or a wall (1 mm)."""
    for s in scenes:
        p = _world_points(s)[s.instance_ids == 0]
        r = s.room_m
        dist = np.min(np.abs(np.stack([p[:, 1], p[:, 1] - r['ceiling'], p[:, 2] - r['back'],
                                       p[:, 0] + r['left'], p[:, 0] - r['right']])), axis=0)
        assert dist.max() < 1e-3, f'seed {s.seed}: a room pixel is {dist.max():.4f} m off every plane'
        # and it is inside the room
        assert (p[:, 1] > -1e-3).all() and (p[:, 1] < r['ceiling'] + 1e-3).all()
        # the floor is seen, below the horizon, as a perspective cue
        assert np.count_nonzero(np.abs(p[:, 1]) < 1e-3) > 0.05 * s.depth.size


def test_object_pixels_lie_on_their_surfaces(scenes):
    checked = set()
    for s in scenes:
        world = _world_points(s)
        for o in s.objects:
            p = world[s.instance_ids == o.object_id]
            centre = s.camera_to_world(np.array(o.centre_xyz_m))
            w, h, _ = o.size_m
            assert (p[:, 1] > -1e-3).all() and (p[:, 1] < h + 1e-3).all(), 'objects stand on the floor'
            if o.kind == 'sphere':
                np.testing.assert_allclose(np.linalg.norm(p - centre, axis=1), w / 2, atol=1e-3)
            elif o.kind == 'cylinder':
                radial = np.hypot(p[:, 0] - centre[0], p[:, 2] - centre[2])
                on_side = np.abs(radial - w / 2) < 1e-3
                on_top = (np.abs(p[:, 1] - h) < 1e-3) & (radial < w / 2 + 1e-3)
                assert (on_side | on_top).all()
            else:  # a box: every point within its half-diagonal of the centre axis and inside its height
                assert (np.hypot(p[:, 0] - centre[0], p[:, 2] - centre[2])
                        <= np.hypot(*o.size_m[::2]) / 2 + 1e-3).all()
            checked.add(o.kind)
    assert checked == {'box', 'cylinder', 'sphere'}


def test_object_list_matches_the_depth_map(scenes):
    occluded = 0
    for s in scenes:
        assert s.objects, f'seed {s.seed} shows no object'
        ids = {o.object_id for o in s.objects}
        for oid in s.all_object_ids:  # objects left out are (nearly) invisible
            if oid not in ids:
                assert np.count_nonzero(s.instance_ids == oid) < MIN_VISIBLE_PIXELS
        for o in s.objects:
            mask = s.instance_ids == o.object_id
            rows, cols = np.nonzero(mask)
            assert o.bbox_xyxy == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            assert o.visible_pixels == mask.sum()
            assert o.distance_m == pytest.approx(float(np.median(s.depth[mask])), abs=1e-6)
            assert o.nearest_m == pytest.approx(float(s.depth[mask].min()), abs=1e-6)
            # the visible surface is in front of the hidden centre, by at most the object's extent
            assert o.nearest_m <= o.centre_depth_m <= o.nearest_m + max(o.size_m) + 1e-6
            assert 0 < o.visible_fraction <= 1.0
            if o.visible_fraction < 0.95:
                occluded += 1
                # what hides it is another object, nearer along the occlusion boundary
                ring = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~mask
                occluder = ring & (s.instance_ids != 0)
                assert occluder.any()
                assert np.median(s.depth[occluder]) < o.distance_m
    assert occluded >= 1, 'the test seeds should include an occluded object'


def test_fusion_use_median_depth_in_the_inner_box_finds_the_distance(scenes):
    """What the fusion node will do: the median depth of the central part of a visible box is close to the true
    distance of an unoccluded, convex object."""
    for s in scenes:
        for o in s.objects:
            if o.visible_fraction < 0.99 or o.visible_pixels < 400:
                continue
            x0, y0, x1, y1 = o.bbox_xyxy
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 6, (y1 - y0) / 6
            inner = s.depth[int(cy - hh):int(cy + hh) + 1, int(cx - hw):int(cx + hw) + 1]
            assert np.median(inner) == pytest.approx(o.distance_m, rel=0.15)


def test_custom_intrinsics_and_dataset():
    intr = CameraIntrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    s = render_scene(3, 48, 64, intrinsics=intr)
    assert s.intrinsics == intr
    with pytest.raises(ValueError, match='intrinsics'):
        render_scene(3, 48, 80, intrinsics=intr)
    from jdd_ros.depth.synthetic_scenes import synthetic_dataset

    ds = synthetic_dataset(range(3), (64, 96))
    assert len(ds) == 3
    image, depth = ds[1]
    assert image.shape == (3, 64, 96) and depth.shape == (1, 64, 96)
    np.testing.assert_array_equal(depth[0].numpy(), render_scene(1, 64, 96).depth)

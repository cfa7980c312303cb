"""The threshold mode's masking (filter_mode: mask_then_detect), on the real TUM RGB-D frame."""

import cv2
import numpy as np
import pytest
from harness import shared_file

from jdd_ros.masking import FILL_VALUE, depth_mask, mask_beyond


@pytest.fixture(scope='module')
def tum():
    rgb = cv2.cvtColor(cv2.imread(str(shared_file('data', 'rgbd', 'tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(shared_file('data', 'rgbd', 'tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
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

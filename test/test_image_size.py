"""jdd_ros.core.image_size: which size the detections' boxes are taken to be in, and saying once when that changes."""

import pytest

from jdd_ros.core.image_size import CAMERA_INFO, IMAGE, DetectionImageSize


def test_the_depth_pixels_assumption_is_said_once_loudly_and_its_end_too():
    sizes = DetectionImageSize()
    size, note = sizes.for_pair((320, 240))
    assert size is None and note.warning
    assert 'boxes are taken to be in the pixels of the 320x240 depth image' in note.text
    assert 'connect image or camera_info' in note.text
    assert sizes.for_pair((320, 240)) == (None, None)  # once, not per pair
    size, note = sizes.for_pair((640, 480))  # another depth size: another assumption, said again
    assert size is None and note.warning and '640x480 depth image' in note.text
    note = sizes.set(CAMERA_INFO, 640, 480)  # said when the message arrives, before the next pair
    assert not note.warning and note.text == ("the detections' image size is now known from camera_info: 640x480; "
                                              'boxes are no longer taken to be in depth pixels')
    assert sizes.for_pair((320, 240)) == ((640, 480), None)
    assert sizes.set(CAMERA_INFO, 640, 480) is None  # the same size again: nothing to say


def test_image_comes_before_camera_info_and_bad_sizes_change_nothing():
    sizes = DetectionImageSize()
    assert sizes.set(CAMERA_INFO, 1280, 960).text == "the detections' image size is 1280x960 (from camera_info)"
    assert sizes.for_pair((320, 240)) == ((1280, 960), None)
    assert sizes.set(IMAGE, 640, 480).text == "the detections' image size is 640x480 (from image)"
    assert sizes.set(CAMERA_INFO, 320, 240) is None  # the image's size stays in use
    assert sizes.for_pair((320, 240)) == ((640, 480), None)
    for bad in ((0, 480), (640, -1)):
        with pytest.raises(ValueError, match='must be positive'):
            sizes.set(IMAGE, *bad)
    assert sizes.known == (IMAGE, (640, 480)) and sizes.get(CAMERA_INFO) == (320, 240)
    assert sizes.describe() == '640x480 (from image)' and DetectionImageSize().describe() == 'unknown'
    with pytest.raises(ValueError, match="unknown image size source 'depth'"):
        sizes.set('depth', 1, 1)

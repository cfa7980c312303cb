"""The scale change of an object measured on the image inside its box (core.image_scale), and the tracker's growth
cue built on it (core.tracking): synthetic textures scaled by known factors, the truth known by construction."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from jdd_ros.core.detection import Detection
from jdd_ros.core.image_scale import ScaleSettings, _features, image_scale_change, to_grey, window_scale_change
from jdd_ros.core.tracking import BOX_CUE, IMAGE_CUE, Tracker


def texture(size: int, seed: int = 0) -> np.ndarray:
    """Blurred random noise stretched to 0..255: texture with corners everywhere, like a cluttered object."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def similarity(image: np.ndarray, s: float, centre: tuple[float, float], shift: tuple[float, float],
               border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """``image`` scaled by ``s`` about ``centre``, then moved by ``shift`` pixels (bilinear)."""
    cx, cy = centre
    m = np.array([[s, 0.0, (1 - s) * cx + shift[0]], [0.0, s, (1 - s) * cy + shift[1]]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderMode=border)


@pytest.mark.parametrize('s', [0.95, 0.98, 1.0, 1.01, 1.02, 1.05, 1.1])
def test_scale_of_a_texture_scaled_by_a_known_factor(s):
    img = texture(240)
    rng = np.random.default_rng(int(s * 1000))
    moved = similarity(img, s, (118.3, 121.7), (3.5, -2.25)).astype(np.float64) + rng.normal(0, 2.0, img.shape)
    cur = np.clip(moved, 0, 255).astype(np.uint8)
    change = image_scale_change(img, cur, (70.0, 70.0, 170.0, 170.0))
    assert change is not None and change.points >= 30
    # within 1 % of the growth (5e-4 at least): a frame-to-frame TTC error of 1 % from this alone
    assert change.ratio == pytest.approx(s, rel=max(5e-4, 0.01 * abs(s - 1)))
    sigma = math.sqrt(change.variance)
    assert 0 < sigma < 2e-3 and abs(change.ratio - s) <= 4 * sigma + 1e-4  # the variance says how good it is


def test_first_guess_lets_a_large_motion_be_tracked():
    """An object that moved 60 px between frames: found from its detection box as the first guess."""
    img = texture(320, seed=1)
    cur = similarity(img, 1.03, (100.0, 160.0), (60.0, 0.0))
    box = (60.0, 120.0, 140.0, 200.0)
    expected = (60.0 - 1.2 + 60.0, 120.0 - 1.2, 140.0 + 1.2 + 60.0, 200.0 + 1.2)  # the detection: centre, size
    change = image_scale_change(img, cur, box, expected)
    assert change is not None and change.ratio == pytest.approx(1.03, rel=5e-4)


def test_background_inside_the_box_does_not_bias_it():
    """A textured object growing by 4 % in front of a background that does not (far away); its box holds a margin
    of background on every side: the inset keeps the features off the occlusion edge (high-contrast corners that
    move with neither), and the median of the pair ratios follows the object."""
    background, obj = texture(300, seed=2), texture(300, seed=3)
    inside = np.zeros((300, 300), np.uint8)
    inside[100:200, 100:200] = 255
    frames = []
    for s in (1.0, 1.04):
        grown_obj = similarity(obj, s, (150.0, 150.0), (0.0, 0.0))
        grown_mask = similarity(inside, s, (150.0, 150.0), (0.0, 0.0), border=cv2.BORDER_CONSTANT) > 127
        frames.append(np.where(grown_mask, grown_obj, background))
    box = (85.0, 85.0, 215.0, 215.0)  # 15 px of background on each side (11.5 % of the box), as a detector's box
    change = image_scale_change(frames[0], frames[1], box)
    assert change is not None and change.ratio == pytest.approx(1.04, rel=5e-4)


def test_plain_or_tiny_boxes_give_no_measurement():
    flat = np.full((200, 200), 128, np.uint8)
    assert image_scale_change(flat, flat, (50.0, 50.0, 150.0, 150.0)) is None  # no features: the caller uses boxes
    img = texture(200)
    assert image_scale_change(img, img, (100.0, 100.0, 104.0, 104.0)) is None  # too small to hold enough
    with pytest.raises(ValueError, match='one size'):
        image_scale_change(img, img[:100], (50.0, 50.0, 150.0, 150.0))


def test_features_are_those_of_the_whole_image_masked_to_the_inset_box():
    """The corners are searched on the inset box and a small border only (the cost is the area searched): they must
    be OpenCV's corners of the whole image under the inset box's mask, exactly, wherever the box lies (inside, at
    the image's edges, overhanging them)."""
    s = ScaleSettings()
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(60):
        img = cv2.GaussianBlur(rng.integers(0, 256, (180, 240), dtype=np.uint8), (0, 0), rng.uniform(0.7, 3.0))
        w, h = rng.uniform(12, 200), rng.uniform(12, 160)
        x1, y1 = rng.uniform(-40, 240 - w / 2), rng.uniform(-40, 180 - h / 2)
        box = (x1, y1, x1 + w, y1 + h)
        dx, dy = s.inset * w, s.inset * h
        c0, r0 = max(math.ceil(x1 + dx), 0), max(math.ceil(y1 + dy), 0)
        c1, r1 = min(math.floor(x1 + w - dx), 240), min(math.floor(y1 + h - dy), 180)
        found = _features(img, box, s)
        if c1 - c0 < 3 or r1 - r0 < 3:
            assert found is None
            continue
        mask = np.zeros_like(img)
        mask[r0:r1, c0:c1] = 255
        reference = cv2.goodFeaturesToTrack(img, s.max_points, s.quality, s.min_spacing_px, mask=mask)
        if reference is None or len(reference) < s.min_points:
            assert found is None
            continue
        np.testing.assert_array_equal(found, reference)
        compared += 1
    assert compared >= 30


def test_window_of_whole_frames():
    frame = texture(480, seed=4)[:, :]
    frame = np.hstack([frame, texture(480, seed=5)[:, :160]])  # 640 x 480
    cur = similarity(frame, 1.025, (319.5, 239.5), (0.0, 0.0))
    box = (200.0, 150.0, 300.0, 250.0)
    grown = tuple(319.5 + 1.025 * (v - 319.5) if i % 2 == 0 else 239.5 + 1.025 * (v - 239.5) for i, v in enumerate(box))
    change = window_scale_change(frame, cur, box, grown)
    assert change is not None and change.ratio == pytest.approx(1.025, rel=5e-4)
    assert window_scale_change(frame, cur[:, :600], box, grown) is None  # the camera changed its resolution
    assert window_scale_change(frame, cur, (700.0, 500.0, 800.0, 600.0), (700.0, 500.0, 800.0, 600.0)) is None
    assert window_scale_change(frame, cur, box, (math.nan,) * 4) is None


def test_to_grey():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 1] = 200
    grey = to_grey(rgb)
    assert grey.shape == (4, 5) and grey.dtype == np.uint8 and int(grey[0, 0]) == round(0.587 * 200)
    assert to_grey(grey) is not None and to_grey(grey).shape == (4, 5)


# A textured object 0.6 m wide approaching a camera (fx 525) from 4 m at 0.8 m/s, 10 Hz, before a far background;
# its detector boxes err slowly in size like yolov4-tiny's (+-10 %, period 1.2 s).
FX, Z_START, SPEED, SIDE_M = 525.0, 4.0, 0.8, 0.6


def approach(textured: bool, seconds: float = 2.5) -> list[tuple[float, Detection, np.ndarray]]:
    background = cv2.resize(texture(240, seed=6), (640, 480))
    obj = texture(400, seed=7) if textured else np.full((400, 400), 200, np.uint8)
    out = []
    for k in range(int(seconds * 10) + 1):
        t = k / 10
        side = FX * SIDE_M / (Z_START - SPEED * t)  # pixels
        scale = side / 400
        m = np.array([[scale, 0.0, 320 - scale * 200], [0.0, scale, 240 - scale * 200]])
        drawn = cv2.warpAffine(obj, m, (640, 480), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(np.full((400, 400), 255, np.uint8), m, (640, 480), flags=cv2.INTER_NEAREST) > 0
        frame = np.where(mask, drawn, background)
        half = side / 2 * (1 + 0.1 * math.sin(2 * math.pi * t / 1.2))
        out.append((t, Detection('box', 0.9, 320 - half, 240 - half, 320 + half, 240 + half), frame))
    return out


def growth_ttc_errors(frames: list, with_images: bool, image_every: int = 1) -> tuple[list[float], set[str]]:
    tracker, errors, cues = Tracker(), [], set()
    for k, (t, det, frame) in enumerate(frames):
        grey = frame if with_images and k % image_every == 0 else None
        est = tracker.update([det], 10**12 + int(t * 1e9), grey).estimates[0]
        assert len(tracker.frames) <= 1  # only the frame of the track's anchor is kept
        if t >= 1.0:
            errors.append(abs(est.ttc_box_s / ((Z_START - SPEED * t) / SPEED) - 1))
            cues.add(est.scale_cue)
    return errors, cues


def test_tracker_growth_cue_from_the_image_despite_biased_boxes():
    frames = approach(textured=True)
    with_images, cues = growth_ttc_errors(frames, True)
    boxes_only, box_cues = growth_ttc_errors(frames, False)
    print(f'growth TTC mean error: image {np.mean(with_images):.3f}, boxes {np.mean(boxes_only):.3f}')
    assert cues == {IMAGE_CUE} and box_cues == {BOX_CUE}
    assert np.mean(with_images) <= 0.05 and max(with_images) <= 0.10
    assert np.mean(boxes_only) > 2 * np.mean(with_images)  # what the images are for


def test_tracker_falls_back_to_the_box_on_a_plain_object():
    """No texture to track: the box sizes measure the growth, and the estimate says so."""
    frames = approach(textured=False)
    with_images, cues = growth_ttc_errors(frames, True)
    boxes_only, _ = growth_ttc_errors(frames, False)
    assert cues == {BOX_CUE}
    assert with_images == pytest.approx(boxes_only)  # exactly the box cue: nothing else was measured


def test_tracker_spans_frames_without_an_image():
    """Images for every third frame only (an image that came after its detections): the frames between take the box
    at its slow error's weight, and the next image measures the scale change since the last one."""
    errors, cues = growth_ttc_errors(approach(textured=True), True, image_every=3)
    assert cues == {IMAGE_CUE, BOX_CUE}
    assert np.mean(errors) <= 0.05


def approach_of_four(seconds: float = 2.5) -> list[tuple[float, list[Detection], np.ndarray]]:
    """Four textured objects (a 2x2 grid) approaching as in ``approach``, boxes with the same slow size error."""
    background = cv2.resize(texture(240, seed=6), (640, 480))
    objects = [texture(400, seed=10 + i) for i in range(4)]
    centres = [(160, 120), (480, 120), (160, 360), (480, 360)]
    out = []
    for k in range(int(seconds * 10) + 1):
        t = k / 10
        side = FX * SIDE_M / (Z_START - SPEED * t)
        scale, frame, dets = side / 400, background.copy(), []
        for obj, (cx, cy) in zip(objects, centres):
            m = np.array([[scale, 0.0, cx - scale * 200], [0.0, scale, cy - scale * 200]])
            mask = cv2.warpAffine(np.full((400, 400), 255, np.uint8), m, (640, 480), flags=cv2.INTER_NEAREST) > 0
            frame = np.where(mask, cv2.warpAffine(obj, m, (640, 480), flags=cv2.INTER_LINEAR), frame)
            half = side / 2 * (1 + 0.1 * math.sin(2 * math.pi * t / 1.2))
            dets.append(Detection('box', 0.9, cx - half, cy - half, cx + half, cy + half))
        out.append((t, dets, frame))
    return out


@pytest.mark.parametrize('budget', [1, 2])
def test_an_image_budget_caps_the_measurements_of_a_frame_and_every_track_gets_its_turn(budget):
    """ttc_image_objects: at most ``budget`` boxes are measured on the image per frame, the longest unmeasured
    first; each track's measurement then spans the frames it waited, so the growth cue stays accurate."""
    tracker, errors, per_track = Tracker(), [], {}
    for t, dets, frame in approach_of_four():
        before = {tr.track_id: tr.image_steps for tr in tracker.tracks}
        estimates = tracker.update(dets, 10**12 + int(t * 1e9), frame, image_budget=budget).estimates
        measured = [tr.track_id for tr in tracker.tracks if tr.image_steps > before.get(tr.track_id, 0)]
        assert len(measured) <= budget
        for track_id in measured:
            per_track[track_id] = per_track.get(track_id, 0) + 1
        if t >= 1.0:
            errors += [abs(est.ttc_box_s / ((Z_START - SPEED * t) / SPEED) - 1) for est in estimates]
    assert sorted(per_track) == [1, 2, 3, 4]  # every track had its turns ...
    assert max(per_track.values()) - min(per_track.values()) <= 1  # ... in rotation
    print(f'budget {budget}: growth TTC mean error {np.mean(errors):.3f}, image measurements {per_track}')
    assert np.mean(errors) <= 0.05


def test_a_budget_of_zero_is_the_box_cue_alone():
    frames = approach(textured=True)
    tracker = Tracker()
    for t, det, frame in frames:
        est = tracker.update([det], 10**12 + int(t * 1e9), frame, image_budget=0).estimates[0]
    boxes_only, _ = growth_ttc_errors(frames, False)
    assert est.scale_cue == BOX_CUE and est.image_scale_share == 0.0
    assert abs(est.ttc_box_s / ((Z_START - SPEED * frames[-1][0]) / SPEED) - 1) == pytest.approx(boxes_only[-1])

"""Objects over time: track IDs, smoothed distance, range rate and time to contact (TTC); no ROS imports.

Association is IoU between each track's predicted box and the frame's detections (same class only), solved as an
assignment problem by ``scipy.optimize.linear_sum_assignment`` (Hungarian; scipy is already a dependency). A small own
association instead of a tracker library, because the candidates with an Apache-compatible licence, norfair (BSD-3)
and motpy (MIT), count time in frames: their Kalman filters step a fixed dt per ``update`` call and tracks expire after
a number of calls. Here track state follows the header stamps only (a frame dropped upstream, a 10 Hz or a 30 Hz
source give the same motion in metres per second), and each track needs per-cue filters for distance and box size
that those libraries do not expose (checked: norfair 2.3.0 sets dt = 1 and counts hits per call; motpy 0.0.10 takes
dt once, at construction). AGPL trackers (Ultralytics', boxmot) are excluded by licence. filterpy (MIT) is not used
for the filters: each is a 2-state filter, cheaper in plain floats than in numpy matrices (30 tracks x 6 filters per
frame, benchmarks/bench_tracking.py).

Per track, three constant-velocity Kalman filters (state value and rate, process noise a white acceleration, time
step from the stamps) run on:

- the box (centre x, y, width, height in pixels): predicts where the object is for the association, so a crossing
  or briefly occluded object is found again where it went;
- the distance (any depth source): smoothed distance, range rate (m/s, negative = closing) and TTC = -z / (dz/dt);
- the inverse scale u = size0 / size (size = sqrt(width * height)), proportional to the distance for a rigid
  object, so TTC = -u / (du/dt) needs no depth at all. It is the box-growth cue TTC = dt / (scale - 1) of two frames,
  filtered over all frames: for an object approaching at constant speed u falls linearly, so the model is exact.
  Each frame measures the scale change since the track's previous detection, and u is chained from it
  (u_k = u_{k-1} / scale_k). Where the caller gives the frames' grey images, the scale change is measured on the
  texture inside the box (``core.image_scale``: features tracked by Lucas-Kanade, median ratio of their distances),
  far more precise than the detector's box edges; where it has no image, or too few features survive, the ratio of
  the box sizes is used (chained over box ratios only, that is u = size0 / size exactly), and the estimate says
  which (``TrackEstimate.scale_cue``).

Both TTC cues are combined by inverse-variance weighting of their closing rates 1/TTC (well-defined when the object
is not closing: rate <= 0 means no contact, TTC = +inf). Variances follow by first-order propagation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from jdd_ros.core.detection import Detection
from jdd_ros.core.fusion import FusionResult
from jdd_ros.core.image_scale import ScaleSettings, window_scale_change

TRACK = 'track'  # the key of a detection's TrackEstimate in Detection.extra (see track_result)
NOT_CLOSING = math.inf  # time_to_contact of an object that is not coming closer
NOISE_ADAPTATION = 0.2  # weight of each new innovation in a filter's running noise estimate
DEPTH_GATE = 5.0  # a box distance this many standard deviations from the track's prediction is refused ...
GATE_RESTART = 3  # ... unless this many in a row are: then the distance filter restarts from the new value
IMAGE_CUE, BOX_CUE = 'image', 'box'  # what measured a track's latest scale change (TrackEstimate.scale_cue)


@dataclass(frozen=True)
class TrackerSettings:
    """How tracks are associated, kept and filtered (defaults measured on the sequences of test/test_tracking.py)."""

    min_iou: float = 0.2  # a detection joins a track only if its box overlaps the track's predicted box this much
    max_age_s: float = 1.0  # a track not seen for longer than this (stamp time) is forgotten
    box_noise_px: float = 1.0  # detector box-edge jitter (1 sigma): this many pixels ...
    box_noise_fraction: float = 0.03  # ... plus this fraction of the box size (small boxes jitter relatively more)
    box_accel: float = 200.0  # box motion: white-acceleration density (pixels / s^2)
    depth_noise_fraction: float = 0.03  # frame-to-frame noise of a box's distance, as a fraction of it (1 sigma)
    depth_accel: float = 0.2  # distance: white-acceleration density (m / s^2)
    scale_accel: float = 0.05  # inverse box scale (dimensionless / s^2)
    # A real detector's box sizes also err slowly (yolov4-tiny on the zoomed TUM frame: 0.90-1.16 times the true
    # size, each error lasting up to half a second), which no white-noise model captures: the box cue's closing rate
    # gets this relative size error over the track's age as a variance floor, so that where a distance exists it
    # dominates the combination as its accuracy warrants.
    box_bias_fraction: float = 0.2
    # The image-measured scale (core.image_scale) has no such slow error; what is left is the drift of the chained
    # ratios. The floor is a mix of both by the share of the track's scale steps each cue measured.
    image_bias_fraction: float = 0.02
    image_scale: ScaleSettings = field(default_factory=ScaleSettings)  # feature tracking inside the boxes
    min_observations: int = 3  # rates (range rate, TTC) are reported after this many measurements of their cue


class ConstantVelocity:
    """1-D Kalman filter with state (value, rate), constant-velocity model, variable time step (plain floats: a track
    has a handful of them and numpy's per-call cost would dominate)."""

    __slots__ = ('x', 'v', 'pxx', 'pxv', 'pvv', 'q', 'updates', 'nis', 'rate_variance', 'rejected')

    def __init__(self, value: float, value_variance: float, rate_variance: float, accel: float) -> None:
        self.q, self.rate_variance = accel * accel, rate_variance
        self.restart(value, value_variance)

    def restart(self, value: float, value_variance: float) -> None:
        """Start again from one measurement: rate 0, of unknown precision."""
        self.x, self.v = value, 0.0
        self.pxx, self.pxv, self.pvv = value_variance, 0.0, self.rate_variance
        self.updates = 1
        self.nis = 1.0  # running mean of the normalized innovation squared (1 when the noise model holds)
        self.rejected = 0  # consecutive measurements refused by the gate

    def predict(self, dt: float) -> None:
        q = self.q
        self.x += self.v * dt
        self.pxx += dt * (2.0 * self.pxv + dt * self.pvv) + q * dt ** 3 / 3.0
        self.pxv += dt * self.pvv + q * dt * dt / 2.0
        self.pvv += q * dt

    def update(self, z: float, r: float, gate: float = math.inf) -> None:
        """Take a measurement ``z`` of nominal variance ``r``; ``r`` is scaled up while the innovations are larger
        than it claims (real detector boxes jitter more than a nominal model on some objects). A measurement more
        than ``gate`` standard deviations off is refused (one frame's box depth read on the background); GATE_RESTART
        of them in a row mean the value really changed: the filter restarts there."""
        y = z - self.x
        if y * y > gate * gate * (self.pxx + r * max(1.0, self.nis)):
            self.rejected += 1
            if self.rejected >= GATE_RESTART:
                self.restart(z, r)
            return
        self.rejected = 0
        self.nis += NOISE_ADAPTATION * (y * y / (self.pxx + r) - self.nis)
        s = self.pxx + r * max(1.0, self.nis)
        kx, kv = self.pxx / s, self.pxv / s
        self.x += kx * y
        self.v += kv * y
        self.pvv -= kv * self.pxv
        self.pxv *= 1.0 - kx
        self.pxx *= 1.0 - kx
        self.updates += 1


def closing_rate(f: ConstantVelocity) -> tuple[float, float]:
    """(-rate / value, its variance): the inverse time to contact of a filter on a quantity proportional to the
    distance; first-order propagation with the filter's covariance."""
    x, v = f.x, f.v
    if x <= 0:
        return math.nan, math.nan
    a, b = v / (x * x), -1.0 / x  # d(-v/x)/dx, d(-v/x)/dv
    return -v / x, a * a * f.pxx + 2.0 * a * b * f.pxv + b * b * f.pvv


def ttc_from_rate(rate: float, variance: float) -> tuple[float, float]:
    """(time to contact, its variance) from a closing rate 1/TTC: +inf when not closing, NaN when unknown."""
    if math.isnan(rate):
        return math.nan, math.nan
    if rate <= 0:
        return NOT_CLOSING, math.nan
    return 1.0 / rate, variance / rate ** 4


def combine(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Inverse-variance weighted mean of two (value, variance) estimates; either may be unknown (NaN)."""
    known = [e for e in (a, b) if math.isfinite(e[0]) and math.isfinite(e[1]) and e[1] > 0]
    if not known:
        return math.nan, math.nan
    weights = [1.0 / var for _, var in known]
    total = sum(weights)
    return sum(w * val for w, (val, _) in zip(weights, known)) / total, 1.0 / total


@dataclass
class TrackEstimate:
    """What is known of a tracked object at one frame (NaN = unknown; ``ttc_s`` is +inf when it is not closing)."""

    track_id: int
    age_s: float  # stamp time since the track's first detection
    hits: int  # frames in which it was detected
    distance_m: float = math.nan
    distance_variance: float = math.nan
    range_rate_mps: float = math.nan  # negative = closing
    range_rate_variance: float = math.nan
    ttc_s: float = math.nan  # combined cues
    ttc_variance: float = math.nan
    ttc_depth_s: float = math.nan  # from the distance history alone
    ttc_box_s: float = math.nan  # from the growth alone (of the image inside the box, or of the box: scale_cue)
    scale_cue: str = BOX_CUE  # IMAGE_CUE: the latest scale change was measured on the image inside the box
    image_scale_share: float = 0.0  # the share of the track's scale changes measured on the image


class Track:
    """One object over time: its box, distance and inverse-scale filters."""

    def __init__(self, track_id: int, det: Detection, stamp_ns: int, s: TrackerSettings,
                 with_image: bool = False) -> None:
        self.track_id, self.class_name, self.settings = track_id, det.class_name, s
        self.first_ns = self.last_seen_ns = self.stamp_ns = stamp_ns
        self.hits = 1
        r = self._box_noise(det) ** 2
        self.box = [ConstantVelocity(v, r, 1e4, s.box_accel) for v in _box_state(det)]
        self.size0 = self.last_size = max(_size(det), 1e-6)
        self.scale_cue, self.image_steps, self.box_steps = BOX_CUE, 0, 0
        self.scale = ConstantVelocity(1.0, self._scale_noise(det), 1.0, s.scale_accel)
        self.last_u = 1.0  # the scale filter's value after the previous detection
        # The latest detection that came with its frame's image (stamp, box, u after it): the earlier frame of the
        # next image measurement, which spans any frames without an image in between.
        self.anchor: tuple[int, tuple[float, ...], float] | None = None
        if with_image:
            self.anchor = (stamp_ns, tuple(det.xyxy()), 1.0)
        self.depth: ConstantVelocity | None = None
        self._update_depth(det)

    def _box_noise(self, det: Detection) -> float:
        return self.settings.box_noise_px + self.settings.box_noise_fraction * _size(det)

    def _scale_noise(self, det: Detection) -> float:
        size = max(_size(det), 1e-6)
        return (self.size0 / size * self._box_noise(det) / size) ** 2

    def _update_depth(self, det: Detection) -> None:
        z = det.depth
        if not (math.isfinite(z) and z > 0):
            return
        r = (self.settings.depth_noise_fraction * z) ** 2
        if self.depth is None:
            self.depth = ConstantVelocity(z, r, 25.0, self.settings.depth_accel)
        else:
            self.depth.update(z, r, DEPTH_GATE)

    def predict(self, stamp_ns: int) -> None:
        dt = (stamp_ns - self.stamp_ns) * 1e-9
        self.stamp_ns = stamp_ns
        for f in self._filters():
            f.predict(dt)

    def _filters(self) -> list[ConstantVelocity]:
        return self.box + [self.scale] + ([self.depth] if self.depth is not None else [])

    def predicted_box(self) -> tuple[float, float, float, float]:
        cx, cy, w, h = (f.x for f in self.box)
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    def update(self, det: Detection, anchor_grey: np.ndarray | None = None, grey: np.ndarray | None = None) -> None:
        """Take this frame's detection; ``anchor_grey`` (the frame of ``self.anchor``) and ``grey`` (this frame),
        where known, measure the scale change on the image inside the box."""
        r = self._box_noise(det) ** 2
        for f, v in zip(self.box, _box_state(det)):
            f.update(v, r)
        self._update_scale(det, anchor_grey, grey)
        self._update_depth(det)
        self.hits += 1
        self.last_seen_ns = self.stamp_ns

    def _update_scale(self, det: Detection, anchor_grey: np.ndarray | None, grey: np.ndarray | None) -> None:
        """Measure u: from the image inside the box where this frame's and the anchor's images are there and enough
        features survive (u = anchor's u / scale change); else from the box sizes: u = size0 / size while the
        track never had an image measurement (the box cue as it is without images), else the box's ratio to the
        previous detection with the box's slow error as its noise (one such step barely moves the filter)."""
        size, box = max(_size(det), 1e-6), tuple(det.xyxy())
        change = None
        if anchor_grey is not None and grey is not None and self.anchor is not None:
            change = window_scale_change(anchor_grey, grey, self.anchor[1], self._expected_box(box),
                                         self.settings.image_scale)
        if change is not None:
            z = self.anchor[2] / change.ratio
            r = z * z * change.variance / (change.ratio * change.ratio)
            self.scale_cue, self.image_steps = IMAGE_CUE, self.image_steps + 1
        elif self.image_steps == 0:
            z, r = self.size0 / size, self._scale_noise(det)
            self.scale_cue, self.box_steps = BOX_CUE, self.box_steps + 1
        else:
            z = self.last_u * self.last_size / size
            r = self._scale_noise(det) * (z * size / self.size0) ** 2 + (z * self.settings.box_bias_fraction) ** 2
            self.scale_cue, self.box_steps = BOX_CUE, self.box_steps + 1
        self.scale.update(z, r)
        self.last_size, self.last_u = size, self.scale.x
        if grey is not None:
            self.anchor = (self.stamp_ns, box, self.scale.x)

    def _expected_box(self, box: tuple[float, ...]) -> tuple[float, ...]:
        """The detection's box resized to the size the scale filter predicts since the anchor (once it knows a
        rate): the first guess of the image measurement, closer than the detector's size (``image_scale_change``)."""
        anchor_box, anchor_u = self.anchor[1], self.anchor[2]
        if self.scale.updates < self.settings.min_observations or self.scale.x <= 0:
            return box
        half = _size_of(anchor_box) * anchor_u / self.scale.x / 2
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return cx - half, cy - half, cx + half, cy + half

    def _scale_bias(self) -> float:
        """The relative slow error of u: the box's and the image's, by the share of the steps each measured."""
        steps = self.image_steps + self.box_steps
        share = self.image_steps / steps if steps else 0.0
        return share * self.settings.image_bias_fraction + (1.0 - share) * self.settings.box_bias_fraction

    def estimate(self) -> TrackEstimate:
        n = self.settings.min_observations
        out = TrackEstimate(self.track_id, (self.stamp_ns - self.first_ns) * 1e-9, self.hits)
        depth_rate = box_rate = (math.nan, math.nan)
        if self.scale.updates >= n:
            rate, var = closing_rate(self.scale)
            box_rate = (rate, var + (self._scale_bias() / max(out.age_s, 1e-3)) ** 2)
        if self.depth is not None:
            z, var_z = self.depth.x, self.depth.pxx
            out.distance_m, out.distance_variance = z, var_z
            if self.depth.updates >= n:
                depth_rate = closing_rate(self.depth)
                # The box growth measures the range rate too, given the distance: dz/dt = -z * (closing rate).
                from_box = (-z * box_rate[0], z * z * box_rate[1] + box_rate[0] ** 2 * var_z)
                out.range_rate_mps, out.range_rate_variance = combine((self.depth.v, self.depth.pvv), from_box)
        out.ttc_depth_s = ttc_from_rate(*depth_rate)[0]
        out.ttc_box_s = ttc_from_rate(*box_rate)[0]
        out.ttc_s, out.ttc_variance = ttc_from_rate(*combine(depth_rate, box_rate))
        steps = self.image_steps + self.box_steps
        out.scale_cue, out.image_scale_share = self.scale_cue, self.image_steps / steps if steps else 0.0
        return out


def _box_state(det: Detection) -> tuple[float, float, float, float]:
    cx, cy = det.center
    return cx, cy, abs(det.width), abs(det.height)


def _size(det: Detection) -> float:
    return math.sqrt(abs(det.width) * abs(det.height))


def _size_of(box: tuple[float, ...]) -> float:
    return math.sqrt(abs(box[2] - box[0]) * abs(box[3] - box[1]))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (N x 4, x1 y1 x2 y2) with every box of ``b`` (M x 4)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / union, 0.0)


@dataclass
class TrackerUpdate:
    """The result of one frame: an estimate per input detection (same order), and whether the tracks were reset
    first because the stamp went back (a looping bag, a restarted source)."""

    estimates: list[TrackEstimate | None]  # None: a detection without a finite box (no track)
    reset: bool = False
    previous_stamp_ns: int | None = None


@dataclass
class Tracker:
    """Tracks of one camera stream. ``update`` with each frame's detections and header stamp (nanoseconds)."""

    settings: TrackerSettings = field(default_factory=TrackerSettings)
    tracks: list[Track] = field(default_factory=list)
    last_stamp_ns: int | None = None
    next_id: int = 1
    resets: int = 0
    # stamp -> grey frame, only those holding a live track's anchor (the earlier frame of its next scale
    # measurement): at most one per frame of max_age_s, usually one
    frames: dict[int, np.ndarray] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every track; IDs start again at 1 (a looped bag gets the IDs of its first pass)."""
        self.tracks, self.last_stamp_ns, self.next_id, self.frames = [], None, 1, {}

    def update(self, detections: Sequence[Detection], stamp_ns: int, grey: np.ndarray | None = None,
               image_budget: int | None = None) -> TrackerUpdate:
        """Associate the frame's detections with the tracks, update them, and return one estimate per detection.
        ``grey``, the frame's image (grey uint8, the detections' pixels; ``core.image_scale.to_grey``), lets the
        scale change be measured on the image inside the boxes; without it the box sizes measure it. ``image_budget``
        caps the image measurements of this frame (about 1 ms each): the tracks measured longest ago go first, the
        others take their box size this frame and their turn later (a measurement spans the frames in between).
        A stamp not newer than the previous frame's resets the tracks first (``TrackerUpdate.reset``)."""
        out = TrackerUpdate([], previous_stamp_ns=self.last_stamp_ns)
        if self.last_stamp_ns is not None and stamp_ns <= self.last_stamp_ns:
            self.reset()
            self.resets += 1
            out.reset = True
        self.last_stamp_ns = stamp_ns
        max_age_ns = self.settings.max_age_s * 1e9
        self.tracks = [t for t in self.tracks if stamp_ns - t.last_seen_ns <= max_age_ns]
        for t in self.tracks:
            t.predict(stamp_ns)
        assigned = self._associate(detections)
        measured = _image_turn(list(assigned.values()), image_budget) if grey is not None else set()
        for i, det in enumerate(detections):
            track = assigned.get(i)
            if track is None and not _finite(det):
                out.estimates.append(None)
                continue
            if track is None:
                track = Track(self.next_id, det, stamp_ns, self.settings, grey is not None)
                self.next_id += 1
                self.tracks.append(track)
            else:
                turn = track.track_id in measured
                track.update(det, self.frames.get(track.anchor[0]) if turn and track.anchor else None,
                             grey if turn else None)
            out.estimates.append(track.estimate())
        self._keep_frame(stamp_ns, grey)
        return out

    def _keep_frame(self, stamp_ns: int, grey: np.ndarray | None) -> None:
        """Keep ``grey`` while a track's anchor is in it; forget every frame no live track needs."""
        if grey is not None:
            self.frames[stamp_ns] = grey
        needed = {t.anchor[0] for t in self.tracks if t.anchor is not None}
        self.frames = {k: v for k, v in self.frames.items() if k in needed}

    def _associate(self, detections: Sequence[Detection]) -> dict[int, Track]:
        """detection index -> its track: maximum total IoU with predicted boxes, same class, IoU >= min_iou."""
        if not detections or not self.tracks:
            return {}
        boxes = np.array([_finite_box(d) for d in detections], dtype=np.float64)
        predicted = np.array([t.predicted_box() for t in self.tracks], dtype=np.float64)
        iou = iou_matrix(boxes, predicted)
        same_class = np.array([[d.class_name == t.class_name for t in self.tracks] for d in detections])
        iou = np.where(same_class, iou, 0.0)
        rows, cols = linear_sum_assignment(-iou)
        return {int(r): self.tracks[c] for r, c in zip(rows, cols) if iou[r, c] >= self.settings.min_iou}


def _image_turn(tracks: list[Track], budget: int | None) -> set[int]:
    """IDs of the tracks whose growth is measured on this frame's image: all of them without a budget, else at most
    ``budget``, those whose last image measurement (their anchor) is oldest first."""
    if budget is not None and len(tracks) > budget:
        tracks = sorted(tracks, key=lambda t: t.anchor[0] if t.anchor else -1)[:max(budget, 0)]
    return {t.track_id for t in tracks}


def _finite(det: Detection) -> bool:
    return all(math.isfinite(v) for v in det.xyxy())


def _finite_box(det: Detection) -> list[float]:
    return det.xyxy() if _finite(det) else [0.0, 0.0, 0.0, 0.0]  # overlaps nothing: never associated


def track_result(tracker: Tracker, result: FusionResult, stamp_ns: int,
                 grey: np.ndarray | None = None, image_budget: int | None = None) -> TrackerUpdate:
    """Track one fused frame: every detection, kept or dropped (an object keeps its ID when it crosses max_depth),
    each getting its track ID as ``Detection.id`` and its estimate as ``extra[TRACK]`` (see ``track_of``).
    ``grey``: the frame's grey image where the caller has it, ``image_budget`` the most boxes measured on it (see
    ``Tracker.update``)."""
    detections = result.kept + result.dropped_far + result.dropped_near + result.dropped_unmeasured
    update = tracker.update(detections, stamp_ns, grey, image_budget)
    for det, est in zip(detections, update.estimates):
        det.id = str(est.track_id) if est is not None else ''  # untracked (no finite box): no ID to clash with one
        if est is not None:
            det.extra[TRACK] = est
    return update


def track_of(det: Detection) -> TrackEstimate | None:
    """The estimate ``track_result`` gave a detection, if any."""
    est = det.extra.get(TRACK)
    return est if isinstance(est, TrackEstimate) else None


def objects_summary(detections: Sequence[Detection], limit: int = 5) -> str:
    """The tracked detections of a frame in one line, soonest contact first, then nearest: '#3 chair 1.75 m TTC
    4.1 s; #5 bottle 2.10 m' (``jdd-ros status``)."""
    tracked = [(d, est) for d in detections if (est := track_of(d)) is not None]
    tracked.sort(key=lambda item: (item[1].ttc_s if math.isfinite(item[1].ttc_s) else math.inf,
                                   item[0].depth if math.isfinite(item[0].depth) else math.inf))
    parts = []
    for det, est in tracked[:limit]:
        text = f'#{est.track_id} {det.class_name} ' + ('? m' if math.isnan(det.depth) else f'{det.depth:.2f} m')
        parts.append(text + (f' TTC {est.ttc_s:.1f} s' if math.isfinite(est.ttc_s) else ''))
    more = len(tracked) - limit
    return '; '.join(parts) + (f' (+{more} more)' if more > 0 else '') if parts else 'none'

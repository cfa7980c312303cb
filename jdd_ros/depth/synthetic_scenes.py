"""Synthetic RGB-D scenes with exact metric depth: a textured room with boxes, cylinders and spheres on the floor.

No depth dataset can be downloaded where jdd_ros is built, so these scenes are how training is proven to learn and
how fusion is tested with true distances. Depth is ray-cast, not estimated: every pixel holds the exact distance along
the optical axis (camera Z) to the first surface its ray hits, so it is the ground truth a depth camera would give.
The room carries the cues a monocular network can learn from: a tiled floor in perspective, walls meeting the floor
and ceiling, objects standing on the floor (their foot row gives their distance), a point light whose shading falls
off with distance, and occlusion.

Frames: world X right, Y up, Z forward (horizontal), floor at Y = 0, camera at (0, camera_height, 0) pitched down.
Camera optical frame: x right, y down, z forward (REP 103 optical). Integer pixel coordinates are pixel centres.
Rendering is vectorised numpy: a 240x320 scene takes a few tens of milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics

if TYPE_CHECKING:  # imported where used: datasets imports torch, which the scene renderer does not need
    from jdd_ros.depth.augment import AugmentPolicy
    from jdd_ros.depth.datasets import DepthTensorDataset, RGBDSample

OBJECT_KINDS = ('box', 'cylinder', 'sphere')
MIN_VISIBLE_PIXELS = 20  # an object smaller than this on screen is left out of SyntheticScene.objects
_ROOM = 0


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene as the camera sees it.

    ``bbox_xyxy`` bounds the object's *visible* pixels (after occlusion by nearer objects), in the pixel-edge
    convention of detectors: ``(min column, min row, max column + 1, max row + 1)``.
    ``distance_m`` is the median, over the object's visible pixels, of the exact depth (distance along the optical
    axis, as a depth image stores it): what a robust per-box depth statistic should recover.
    ``nearest_m`` is the smallest depth of a visible pixel (its visible front), ``centre_depth_m`` the depth of the
    object's 3D centre (hidden inside the object). ``visible_fraction`` is visible pixels over the pixels the object
    would cover if no other object stood in front of it.
    """

    kind: str
    object_id: int  # its value in SyntheticScene.instance_ids
    bbox_xyxy: tuple[int, int, int, int]
    distance_m: float
    nearest_m: float
    centre_depth_m: float
    centre_xyz_m: tuple[float, float, float]  # camera optical frame
    visible_pixels: int
    visible_fraction: float
    size_m: tuple[float, float, float]  # width (X), height (Y), depth (Z) before yaw


@dataclass
class SyntheticScene:
    rgb: np.ndarray  # H x W x 3 uint8, RGB order
    depth: np.ndarray  # H x W float32, metres along the optical axis, exact
    instance_ids: np.ndarray  # H x W int32: 0 = room surface, k = the object whose object_id is k
    objects: list[SceneObject]
    intrinsics: CameraIntrinsics
    camera_height_m: float
    pitch_rad: float  # downward tilt of the optical axis
    seed: int
    room_m: dict[str, float] = field(default_factory=dict)  # left / right wall |X|, back wall Z, ceiling Y (world)
    all_object_ids: list[int] = field(default_factory=list)  # every placed object, visible or not

    def camera_to_world(self, points: np.ndarray) -> np.ndarray:
        """Optical-frame points (..., 3) -> world (X right, Y up from the floor, Z forward horizontally)."""
        s, c = math.sin(self.pitch_rad), math.cos(self.pitch_rad)
        x, y, z = points[..., 0], points[..., 1], points[..., 2]
        return np.stack([x, self.camera_height_m - c * y - s * z, -s * y + c * z], axis=-1)


def default_intrinsics(height: int, width: int) -> CameraIntrinsics:
    """A camera with about 60 degrees horizontal field of view, like a Kinect/RealSense colour camera."""
    f = 0.85 * width
    return CameraIntrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


@dataclass(frozen=True)
class _Shape:
    kind: str
    object_id: int
    centre: np.ndarray  # world point on the floor under the object's centre (Y = 0)
    size: tuple[float, float, float]  # width, height, depth (box); 2r, h, 2r (cylinder); 2r, 2r, 2r (sphere)
    yaw: float
    colour: np.ndarray
    stripes: float  # texture stripe period in metres (0 = plain)


def _ray_directions(intr: CameraIntrinsics, pitch: float) -> np.ndarray:
    """World directions, shape (H, W, 3), scaled so that t along the ray equals camera-Z depth."""
    u = np.arange(intr.width, dtype=np.float64)
    v = np.arange(intr.height, dtype=np.float64)
    x = ((u - intr.cx) / intr.fx)[None, :]
    y = ((v - intr.cy) / intr.fy)[:, None]
    s, c = math.sin(pitch), math.cos(pitch)
    # camera right = (1,0,0); camera down = (0,-cos,-sin); camera forward = (0,-sin,cos) in world.
    dx = np.broadcast_to(x, (intr.height, intr.width))
    dy = -c * y - s
    dz = -s * y + c
    return np.stack(np.broadcast_arrays(dx, dy, dz), axis=-1)


def _plane_t(origin_coord: float, dir_coord: np.ndarray, plane: float) -> np.ndarray:
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (plane - origin_coord) / dir_coord
    return np.where(t > 1e-9, t, np.inf)


def _hit_box(shape: _Shape, origin: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab test in the box's own frame (yaw about Y). Returns t (inf = miss) and world normals."""
    c, s = math.cos(shape.yaw), math.sin(shape.yaw)
    o = origin - shape.centre
    # world -> local: rotate by -yaw about Y
    ol = np.array([c * o[0] - s * o[2], o[1], s * o[0] + c * o[2]])
    dl = np.stack([c * d[..., 0] - s * d[..., 2], d[..., 1], s * d[..., 0] + c * d[..., 2]], axis=-1)
    w, h, dep = shape.size
    lo = np.array([-w / 2, 0.0, -dep / 2])
    hi = np.array([w / 2, h, dep / 2])
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = 1.0 / dl
        t1 = (lo - ol) * inv
        t2 = (hi - ol) * inv
    tnear = np.where(np.isnan(t1), -np.inf, np.minimum(t1, t2))
    tfar = np.where(np.isnan(t1), np.inf, np.maximum(t1, t2))
    axis = np.argmax(tnear, axis=-1)
    t_enter = np.max(tnear, axis=-1)
    t_exit = np.min(tfar, axis=-1)
    hit = (t_exit >= t_enter) & (t_enter > 1e-9)
    t = np.where(hit, t_enter, np.inf)
    dir_on_axis = np.take_along_axis(dl, axis[..., None], axis=-1)[..., 0]
    nl = np.zeros(dl.shape)
    np.put_along_axis(nl, axis[..., None], -np.sign(dir_on_axis)[..., None], axis=-1)
    normal = np.stack([c * nl[..., 0] + s * nl[..., 2], nl[..., 1], -s * nl[..., 0] + c * nl[..., 2]], axis=-1)
    return t, normal


def _hit_cylinder(shape: _Shape, origin: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, h = shape.size[0] / 2, shape.size[1]
    ox, oz = origin[0] - shape.centre[0], origin[2] - shape.centre[2]
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = 2 * (ox * d[..., 0] + oz * d[..., 2])
    cc = ox * ox + oz * oz - r * r
    disc = b * b - 4 * a * cc
    with np.errstate(divide='ignore', invalid='ignore'):
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    y_side = origin[1] + t_side * d[..., 1]
    side_ok = (disc >= 0) & (a > 1e-12) & (t_side > 1e-9) & (y_side >= 0) & (y_side <= h)
    t_side = np.where(side_ok, t_side, np.inf)
    t_cap = _plane_t(origin[1], d[..., 1], h)
    px = ox + t_cap * d[..., 0]
    pz = oz + t_cap * d[..., 2]
    with np.errstate(invalid='ignore'):
        cap_ok = np.isfinite(t_cap) & (px * px + pz * pz <= r * r)
    t_cap = np.where(cap_ok, t_cap, np.inf)
    t = np.minimum(t_side, t_cap)
    with np.errstate(invalid='ignore'):
        nx = np.where(np.isfinite(t_side), (ox + t_side * d[..., 0]) / r, 0.0)
        nz = np.where(np.isfinite(t_side), (oz + t_side * d[..., 2]) / r, 0.0)
    on_cap = t_cap < t_side
    normal = np.stack([np.where(on_cap, 0.0, nx), np.where(on_cap, 1.0, 0.0), np.where(on_cap, 0.0, nz)], axis=-1)
    return t, normal


def _hit_sphere(shape: _Shape, origin: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = shape.size[0] / 2
    centre = shape.centre + np.array([0.0, r, 0.0])
    o = origin - centre
    a = np.sum(d * d, axis=-1)
    b = 2 * (d @ o)
    cc = float(o @ o) - r * r
    disc = b * b - 4 * a * cc
    with np.errstate(invalid='ignore'):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    t = np.where((disc >= 0) & (t > 1e-9), t, np.inf)
    with np.errstate(invalid='ignore'):
        normal = (origin + np.where(np.isfinite(t), t, 0.0)[..., None] * d - centre) / r
    return t, normal


_HITTERS = {'box': _hit_box, 'cylinder': _hit_cylinder, 'sphere': _hit_sphere}


def _random_colour(rng: np.random.Generator, lo: float = 0.15, hi: float = 0.95) -> np.ndarray:
    return rng.uniform(lo, hi, size=3)


def _place_shapes(rng: np.random.Generator, intr: CameraIntrinsics, room: dict, count: int) -> list[_Shape]:
    shapes: list[_Shape] = []
    footprints: list[tuple[float, float, float]] = []  # x, z, bounding radius
    half_fov = (intr.width / 2) / intr.fx
    for object_id in range(1, count + 1):
        for _ in range(60):
            kind = OBJECT_KINDS[rng.integers(len(OBJECT_KINDS))]
            if kind == 'box':
                size = (rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.0))
            elif kind == 'cylinder':
                r = rng.uniform(0.12, 0.4)
                size = (2 * r, rng.uniform(0.3, 1.6), 2 * r)
            else:
                r = rng.uniform(0.15, 0.45)
                size = (2 * r, 2 * r, 2 * r)
            radius = math.hypot(size[0], size[2]) / 2
            z = rng.uniform(1.2, room['back'] - radius - 0.2)
            x_lim = min(z * half_fov * 0.9, room['left'] - radius, room['right'] - radius)
            if x_lim <= 0:
                continue
            x = rng.uniform(-x_lim, x_lim) if x_lim > 0 else 0.0
            if any(math.hypot(x - fx, z - fz) < radius + fr + 0.05 for fx, fz, fr in footprints):
                continue
            footprints.append((x, z, radius))
            shapes.append(_Shape(kind, object_id, np.array([x, 0.0, z]), size, rng.uniform(0, math.pi),
                                 _random_colour(rng), float(rng.choice([0.0, 0.0, rng.uniform(0.08, 0.25)]))))
            break
    return shapes


def render_scene(seed: int, height: int = 240, width: int = 320,
                 intrinsics: CameraIntrinsics | None = None, max_objects: int = 4) -> SyntheticScene:
    """Render the scene of ``seed`` (the same seed always gives the same scene at a given size and camera)."""
    intr = intrinsics if intrinsics is not None else default_intrinsics(height, width)
    if (intr.width, intr.height) != (width, height):
        raise ValueError(f'intrinsics are for {intr.width}x{intr.height}, the scene is {width}x{height}')
    rng = np.random.default_rng(seed)
    room = {'back': rng.uniform(4.0, 8.5), 'left': rng.uniform(1.5, 3.5), 'right': rng.uniform(1.5, 3.5),
            'ceiling': rng.uniform(2.4, 3.2)}
    cam_h = rng.uniform(0.8, 1.6)
    pitch = math.radians(rng.uniform(0.0, 15.0))
    origin = np.array([0.0, cam_h, 0.0])
    d = _ray_directions(intr, pitch)

    # Room surfaces: 0 floor, 1 ceiling, 2 back wall, 3 left wall, 4 right wall.
    room_t = np.stack([
        _plane_t(cam_h, d[..., 1], 0.0),
        _plane_t(cam_h, d[..., 1], room['ceiling']),
        _plane_t(0.0, d[..., 2], room['back']),
        _plane_t(0.0, d[..., 0], -room['left']),
        _plane_t(0.0, d[..., 0], room['right']),
    ])
    surface = np.argmin(room_t, axis=0)
    t_room = np.min(room_t, axis=0)
    room_normals = np.array([[0, 1, 0], [0, -1, 0], [0, 0, -1], [1, 0, 0], [-1, 0, 0]], dtype=np.float64)
    normal = room_normals[surface]

    shapes = _place_shapes(rng, intr, room, int(rng.integers(1, max_objects + 1)))
    depth = t_room.copy()
    ids = np.zeros((height, width), dtype=np.int32)
    unoccluded: dict[int, int] = {}
    for shape in shapes:
        t, n = _HITTERS[shape.kind](shape, origin, d)
        unoccluded[shape.object_id] = int(np.count_nonzero(t < t_room))
        nearer = t < depth
        depth = np.where(nearer, t, depth)
        ids[nearer] = shape.object_id
        normal = np.where(nearer[..., None], n, normal)

    point = origin + depth[..., None] * d
    albedo = _albedo(rng, point, surface, ids, shapes)
    light = np.array([rng.uniform(-1.0, 1.0), room['ceiling'] - 0.3, rng.uniform(1.0, room['back'] - 1.0)])
    to_light = light - point
    dist = np.linalg.norm(to_light, axis=-1)
    lambert = np.clip(np.sum(normal * to_light, axis=-1) / dist, 0.0, 1.0)
    intensity = 0.35 + 0.9 * lambert / (1.0 + 0.04 * dist * dist)
    rgb = albedo * intensity[..., None]
    rgb = rgb * rng.uniform(0.85, 1.15, size=3)  # light colour
    rgb += rng.normal(0.0, 0.01, size=rgb.shape)  # sensor noise
    rgb8 = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)

    objects = _describe_objects(shapes, depth, ids, intr, pitch, cam_h, unoccluded)
    return SyntheticScene(rgb8, depth.astype(np.float32), ids, objects, intr, cam_h, pitch, int(seed), room,
                          [s.object_id for s in shapes])


def _albedo(rng: np.random.Generator, p: np.ndarray, surface: np.ndarray, ids: np.ndarray,
            shapes: Sequence[_Shape]) -> np.ndarray:
    tile = rng.uniform(0.3, 0.7)
    floor_a, floor_b = _random_colour(rng, 0.2, 0.8), _random_colour(rng, 0.2, 0.8)
    checker = (np.floor(p[..., 0] / tile) + np.floor(p[..., 2] / tile)) % 2
    floor = np.where(checker[..., None] > 0, floor_a, floor_b)
    wall = _random_colour(rng, 0.4, 0.9)
    panel = rng.uniform(0.4, 1.2)
    # walls: vertical panels along the wall and a darker skirting band at the floor
    along = np.where(surface == 2, p[..., 0], p[..., 2])
    panels = 0.9 + 0.1 * ((np.floor(along / panel) % 2)[..., None])
    skirting = np.where((p[..., 1] < 0.12)[..., None], 0.55, 1.0)
    walls = wall * panels * skirting
    ceiling = np.full(3, rng.uniform(0.8, 0.95))
    out = np.where((surface == 0)[..., None], floor, np.where((surface == 1)[..., None], ceiling, walls))
    for shape in shapes:
        mask = ids == shape.object_id
        if not mask.any():
            continue
        colour = np.broadcast_to(shape.colour, out.shape)
        if shape.stripes > 0:
            band = (np.floor(p[..., 1] / shape.stripes) % 2)[..., None]
            colour = np.where(band > 0, shape.colour, shape.colour * 0.6)
        out = np.where(mask[..., None], colour, out)
    return out


def _describe_objects(shapes: Sequence[_Shape], depth: np.ndarray, ids: np.ndarray, intr: CameraIntrinsics,
                      pitch: float, cam_h: float, unoccluded: dict[int, int]) -> list[SceneObject]:
    s, c = math.sin(pitch), math.cos(pitch)
    objects = []
    for shape in shapes:
        mask = ids == shape.object_id
        count = int(np.count_nonzero(mask))
        if count < MIN_VISIBLE_PIXELS:
            continue
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        values = depth[mask]
        centre_w = shape.centre + np.array([0.0, shape.size[1] / 2, 0.0]) - np.array([0.0, cam_h, 0.0])
        # world -> optical: x = X, y = -(cos*Y + sin*Z)... from the camera axes used in _ray_directions
        x_cam = centre_w[0]
        y_cam = -c * centre_w[1] - s * centre_w[2]
        z_cam = -s * centre_w[1] + c * centre_w[2]
        objects.append(SceneObject(
            kind=shape.kind, object_id=shape.object_id,
            bbox_xyxy=(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1),
            distance_m=float(np.median(values)), nearest_m=float(values.min()), centre_depth_m=float(z_cam),
            centre_xyz_m=(float(x_cam), float(y_cam), float(z_cam)), visible_pixels=count,
            visible_fraction=count / max(unoccluded[shape.object_id], 1),
            size_m=tuple(float(v) for v in shape.size)))
    return objects


class SyntheticSource:
    """Scenes of the given seeds as an RGB-D source (rendered once, then kept: a 96x128 scene is ~50 KB)."""

    def __init__(self, seeds: Sequence[int], height: int = 240, width: int = 320, cache: bool = True):
        self.seeds = [int(s) for s in seeds]
        self.height, self.width = int(height), int(width)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.seeds)

    def load(self, index: int) -> RGBDSample:
        from jdd_ros.depth.datasets import RGBDSample

        seed = self.seeds[index]
        if self._cache is not None and seed in self._cache:
            rgb, depth = self._cache[seed]
        else:
            scene = render_scene(seed, self.height, self.width)
            rgb, depth = scene.rgb, scene.depth
            if self._cache is not None:
                self._cache[seed] = (rgb, depth)
        return RGBDSample(rgb, depth, f'synthetic_{seed}')


# Held-out scenes come from a seed range training never uses.
HELD_OUT_SEED_BASE = 1_000_000


def train_seeds(count: int, base: int = 0) -> range:
    return range(base, base + count)


def held_out_seeds(count: int) -> range:
    return range(HELD_OUT_SEED_BASE, HELD_OUT_SEED_BASE + count)


def synthetic_dataset(seeds: Sequence[int], input_size: tuple[int, int] = (240, 320),
                      augment: AugmentPolicy | None = None) -> DepthTensorDataset:
    """A torch Dataset of (normalised image ``3,H,W``, depth ``1,H,W`` metres) for the scenes of ``seeds``, rendered
    directly at ``input_size`` (the U-Net's input, so nothing is resized)."""
    from jdd_ros.depth.datasets import DepthTensorDataset

    return DepthTensorDataset(SyntheticSource(seeds, input_size[0], input_size[1]), input_size, augment=augment)

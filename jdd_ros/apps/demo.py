"""``jdd-ros demo``, the part without ROS: the sample, the nodes to start, the environment, and what is printed.

The sample is the real TUM RGB-D desk frame that ships with jdd_ros (colour, 16-bit sensor depth in millimetres,
Kinect intrinsics) and its left-right mirror image, played a few times as a camera would send them. The nodes are
those ``jdd-ros launch depth_source:=sensor`` starts (the same description, ``jdd_ros.bringup``); each *column* of
the printed table is one fusion node's output topic, so a second fusion node (another depth source) is one more
``Column`` and one more command.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jdd_ros.bringup import NodeLaunch, package_file
from jdd_ros.core.detection import Detection
from jdd_ros.io.frames import KINECT_640x480, RGBDFrame, read_rgbd

SAMPLE_FILES = ('tum_desk_color.png', 'tum_desk_depth_mm.png')
IMAGE_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC = '/camera/image_raw', '/camera/depth/image_raw', '/camera/camera_info'
DEFAULT_MAX_DEPTH = 2.0


def sample_file(name: str) -> Path:
    """A sample file: installed with the package (share/jdd_ros/sample/, setup.py data_files) or, in a checkout that
    was not installed, test/fixtures/; FileNotFoundError naming where it looked."""
    try:
        return package_file('sample', name)
    except FileNotFoundError as exc:
        checkout = Path(__file__).resolve().parents[2] / 'test' / 'fixtures' / name
        if checkout.is_file():
            return checkout
        raise FileNotFoundError(f'{exc}; nor {checkout}: reinstall jdd_ros (make setup)') from None


def sample_frames() -> list[RGBDFrame]:
    """The desk frame and its mirror image (other pixels under every box, the same scene)."""
    desk = read_rgbd(sample_file(SAMPLE_FILES[0]), sample_file(SAMPLE_FILES[1]), 0.001, KINECT_640x480)
    desk.name = 'desk'
    mirrored = RGBDFrame(np.ascontiguousarray(desk.rgb[:, ::-1]), np.ascontiguousarray(desk.depth_m[:, ::-1]),
                         desk.intrinsics, name='desk mirrored')
    return [desk, mirrored]


@dataclass(frozen=True)
class Column:
    """One fusion node's answer: its label in the table, the node (for ``param set``) and its output topic."""

    label: str
    node: str
    topic: str
    note: str = ''  # printed once under the first table: what the column's '- m' means


SENSOR_COLUMN = Column('sensor depth', '/fusion_node', '/detections_with_depth')
# A second fusion node beside the first: the same detections, distances from the floor under each box
# (depth_source ground, the camera's height, pitch and roll calibrated from the sample's depth frame).
GROUND_COLUMN = Column('floor geometry', '/ground_fusion_node', '/ground/detections_with_depth',
                       "floor geometry: the floor under the bottom centre of each box, for classes that stand on the "
                       "floor (ground_classes); '- m' for the others and for a box cut by the image's bottom edge")


def ground_supported() -> bool:
    """Whether this fusion_node has depth_source 'ground' (distances from the floor geometry)."""
    from jdd_ros.params import SCHEMA

    found = [s for s in SCHEMA['fusion_node'] if s.name == 'depth_source']
    return bool(found) and 'ground' in (found[0].choices or ())


def calibrate_ground(frame: RGBDFrame) -> tuple[float, float, float]:
    """(height m, pitch deg, roll deg) of the camera above the floor of ``frame``'s sensor depth, as
    ``jdd-ros calibrate-ground`` finds them."""
    from jdd_ros.core.ground_fit import fit_floor

    g = fit_floor(frame.depth_m, frame.intrinsics).geometry
    return round(g.height, 3), round(g.pitch, 2), round(g.roll, 2)


def ground_node(height: float, pitch: float, roll: float) -> NodeLaunch:
    """The second fusion node: depth_source ground with this geometry, the sample's topics, outputs under /ground."""
    outputs = ('detections_3d', 'annotated', 'detection_markers')
    return NodeLaunch('fusion_node', GROUND_COLUMN.node.lstrip('/'),
                      parameters={'depth_source': 'ground', 'camera_height': height, 'camera_pitch': pitch,
                                  'camera_roll': roll},
                      remappings=[('image', IMAGE_TOPIC), ('camera_info', CAMERA_INFO_TOPIC),
                                  ('detections_with_depth', GROUND_COLUMN.topic)]
                      + [(name, f'/ground/{name}') for name in outputs])


def launch_assignments(log_level: str = 'warn') -> list[str]:
    """The ``jdd-ros launch`` arguments of the demo: depth from the sample's sensor depth, the sample's topics."""
    return ['depth_source:=sensor', f'image:={IMAGE_TOPIC}', f'depth:={DEPTH_TOPIC}',
            f'camera_info:={CAMERA_INFO_TOPIC}', f'log_level:={log_level}']


@dataclass
class DemoEnvironment:
    """Where the demo's processes live: their own DDS domain, discovery kept on this machine, logs in a temp dir."""

    domain_id: int
    workdir: Path

    @classmethod
    def create(cls, domain_id: int | None) -> DemoEnvironment:
        workdir = Path(tempfile.mkdtemp(prefix='jdd_ros_demo_'))
        return cls(domain_id if domain_id is not None else random.SystemRandom().randrange(100, 230), workdir)

    @property
    def log_dir(self) -> Path:
        return self.workdir / 'ros_log'

    def variables(self) -> dict[str, str]:
        return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'ROS_DOMAIN_ID': str(self.domain_id),
                'ROS_LOG_DIR': str(self.log_dir), 'RCUTILS_COLORIZED_OUTPUT': '0'}

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.variables())
        env.setdefault('HOME', tempfile.gettempdir())
        return env


@dataclass
class FrameResult:
    """What each column's fusion node published for one played frame."""

    index: int
    frame_name: str
    max_depth: float
    columns: dict[str, list[Detection]] = field(default_factory=dict)


def same_object(d: Detection) -> tuple:
    """What tells one detector detection from another across fusion nodes and frames of the same image: its class
    and box, which every fusion node republishes unchanged (its ``id`` is each node's own track ID)."""
    return (d.class_name, round(d.x1, 1), round(d.y1, 1), round(d.x2, 1), round(d.y2, 1))


def _distance(d: Detection | None) -> str:
    if d is None:
        return 'dropped'
    return f'{d.depth:.2f} m' if math.isfinite(d.depth) else '- m'


def _box(d: Detection) -> str:
    return f'[{d.x1:.1f}, {d.y1:.1f}, {d.x2:.1f}, {d.y2:.1f}]'


def table(result: FrameResult, columns: Sequence[Column]) -> list[str]:
    """The frame's objects, one line each (class, score, box in pixels, each column's distance), nearest first."""
    first = result.columns[columns[0].label]
    by_id = {c.label: {same_object(d): d for d in result.columns[c.label]} for c in columns}
    ids = list(dict.fromkeys([same_object(d) for c in columns for d in result.columns[c.label]]))
    any_det = {i: next(by_id[c.label][i] for c in columns if i in by_id[c.label]) for i in ids}
    in_first = {same_object(d) for d in first}
    ids.sort(key=lambda i: (i not in in_first, np.nan_to_num(any_det[i].depth, nan=1e9)))
    widths = [max(15, len(c.label) + 3) for c in columns]
    head = '    ' + f"{'object':<14}{'score':>6}  {'box [x1, y1, x2, y2] px':<32}" + ''.join(
        f'{c.label:>{w}}' for c, w in zip(columns, widths))
    lines = [head]
    for i in ids:
        d = any_det[i]
        lines.append(f'    {d.class_name:<14}{d.score:6.2f}  {_box(d):<32}'
                     + ''.join(f'{_distance(by_id[c.label].get(i)):>{w}}' for c, w in zip(columns, widths)))
    return lines


def frame_heading(result: FrameResult, total: int) -> str:
    limit = 'no limit' if result.max_depth <= 0 else f'{result.max_depth:g} m'
    return f'frame {result.index} of {total} ({result.frame_name}), max_depth {limit}:'


def signature(result: FrameResult, columns: Sequence[Column]) -> tuple:
    """What a reader compares between frames: each column's objects with their distances to the centimetre."""
    return tuple(tuple(sorted((d.class_name, round(d.depth, 2) if math.isfinite(d.depth) else -1.0)
                              for d in result.columns[c.label])) for c in columns)


def gone_line(before: FrameResult, after: FrameResult, column: Column) -> str | None:
    """The objects ``column`` reported for the same image before and no longer does: those beyond max_depth with
    their distances, and how many had no distance (a fusion node drops those while a max_depth is set)."""
    now = {same_object(d) for d in after.columns[column.label]}
    gone = [d for d in before.columns[column.label] if same_object(d) not in now]
    if not gone:
        return None
    far = sorted((d for d in gone if math.isfinite(d.depth)), key=lambda d: d.depth)
    parts = []
    if far:
        parts.append(f'beyond max_depth {after.max_depth:g} m: ' + ', '.join(f'{d.class_name} {d.depth:.2f} m'
                                                                             for d in far))
    if len(gone) > len(far):
        parts.append(f'{len(gone) - len(far)} without a distance (dropped while max_depth is set)')
    return textwrap.fill(f"gone ({column.label}), {'; '.join(parts)}", width=116, initial_indent='    ',
                         subsequent_indent='      ')


def write_sample_bag(path: str | Path, seconds: float = 4.0, rate_hz: float = 10.0) -> Path:
    """The sample as a ROS 2 bag: the desk frame, ``rate_hz`` for ``seconds``, as a still camera records it (the
    mirror image is left out: switching images frame by frame would look like objects jumping to fusion_node's
    tracker), on the demo's topics, for ``jdd-ros replay`` / ``ros2 bag play`` and ``jdd-ros process``; returns the
    bag directory."""
    from jdd_ros.io.bags import BagTopics, write_bag

    desk = sample_frames()[0]
    count = max(2, int(round(seconds * rate_hz)))
    topics = BagTopics(image=IMAGE_TOPIC, depth=DEPTH_TOPIC, camera_info=CAMERA_INFO_TOPIC)
    return write_bag(path, [desk] * count, rate_hz=rate_hz, topics=topics).path

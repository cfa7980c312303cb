"""Real ROS 2 bags (.mcap and .db3) written and read with ``rosbags``, without a ROS installation.

Used to make test and demo bags from RGB-D frames (image + depth + camera_info, optionally detections), to feed
``jdd-ros process`` and the replay helper. The bags use the Kilted typestore and metadata version 9, which
``ros2 bag play`` reads; vision_msgs types are registered from this repository's .msg definitions (the same as
upstream vision_msgs 4.x, so the same type hashes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from jdd_ros.core.camera import CameraIntrinsics
from jdd_ros.core.detection import Detection
from jdd_ros.io import detection_msgs
from jdd_ros.io.camera_info import intrinsics_from_camera_info
from jdd_ros.io.frames import RGBDFrame
from jdd_ros.io.image_codec import DEPTH_ENCODINGS, compressed_to_numpy, depth_to_metres, image_to_numpy, to_rgb8
from jdd_ros.io.message_fields import (
    CameraInfoFields,
    CompressedImageFields,
    Detection2DArrayFields,
    HeaderFields,
    ImageFields,
    StampedFields,
    TimeFields,
)

if TYPE_CHECKING:  # rosbags is imported where a bag is read or written
    from rosbags.interfaces import Connection
    from rosbags.interfaces.typing import Typesdict
    from rosbags.rosbag2 import Reader
    from rosbags.typesys.store import Typestore

BAG_SUFFIXES = ('.mcap', '.db3')
DEPTH_WRITE_ENCODINGS = ('16UC1', '32FC1')
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
DETECTIONS_TYPE = 'vision_msgs/msg/Detection2DArray'


def _vision_msgs_dir() -> Path | None:
    """Where vision_msgs' .msg files are: this checkout, then installed prefixes (venv, ROS installation)."""
    import os
    import sys

    prefixes = [sys.prefix] + [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    candidates = [Path(__file__).resolve().parents[1] / 'interfaces' / 'vision_msgs' / 'msg']
    candidates += [Path(p) / 'share' / 'vision_msgs' / 'msg' for p in prefixes]
    return next((c for c in candidates if (c / 'Detection2DArray.msg').is_file()), None)


@dataclass(frozen=True)
class BagTopics:
    image: str = '/camera/image_raw'
    depth: str = '/camera/depth/image_raw'
    camera_info: str = '/camera/camera_info'
    detections: str = '/detections'


@dataclass
class WrittenBag:
    path: Path  # the bag directory (metadata.yaml + one storage file)
    storage_file: Path
    stamps_ns: list[int] = field(default_factory=list)  # header stamp of each frame, in order


def _vision_msgs_types(directory: Path) -> Typesdict:
    from rosbags.typesys import get_types_from_msg

    types: Typesdict = {}
    for msg in sorted(directory.glob('*.msg')):
        types.update(get_types_from_msg(msg.read_text(), f'vision_msgs/msg/{msg.stem}'))
    return types


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 Kilted typestore, plus vision_msgs when its definitions are available."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    directory = _vision_msgs_dir()
    if directory is not None:
        store.register(_vision_msgs_types(directory))
    return store


def _stamp(ns: int) -> TimeFields:
    time_type = typestore().types['builtin_interfaces/msg/Time']
    return time_type(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def _header(ns: int, frame_id: str) -> HeaderFields:
    return typestore().types['std_msgs/msg/Header'](stamp=_stamp(ns), frame_id=frame_id)


def image_message(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> ImageFields:
    """A rosbags sensor_msgs/Image holding ``array`` (little-endian, no row padding)."""
    array = np.ascontiguousarray(array)
    channels = 1 if array.ndim == 2 else array.shape[2]
    return typestore().types[IMAGE_TYPE](
        header=_header(stamp_ns, frame_id), height=array.shape[0], width=array.shape[1], encoding=encoding,
        is_bigendian=0, step=array.shape[1] * channels * array.dtype.itemsize,
        data=np.frombuffer(array.astype(array.dtype.newbyteorder('<'), copy=False).tobytes(), dtype=np.uint8))


def camera_info_message(intr: CameraIntrinsics, stamp_ns: int, frame_id: str) -> CameraInfoFields:
    types = typestore().types
    roi = types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    k = np.array([intr.fx, 0, intr.cx, 0, intr.fy, intr.cy, 0, 0, 1], dtype=np.float64)
    p = np.array([intr.fx, 0, intr.cx, 0, 0, intr.fy, intr.cy, 0, 0, 0, 1, 0], dtype=np.float64)
    return types[CAMERA_INFO_TYPE](
        header=_header(stamp_ns, frame_id), height=intr.height, width=intr.width, distortion_model='plumb_bob',
        d=np.zeros(5, dtype=np.float64), k=k, r=np.eye(3, dtype=np.float64).ravel(), p=p, binning_x=0, binning_y=0,
        roi=roi)


def make_message(type_name: str, **fields: object) -> object:
    """A rosbags message of ``type_name`` (every field given): the constructor ``jdd_ros.io.detection_msgs`` takes."""
    return typestore().types[type_name](**fields)


def detections_message(detections: Sequence[Detection], stamp_ns: int, frame_id: str) -> Detection2DArrayFields:
    """A rosbags vision_msgs/Detection2DArray, laid out like the nodes' (``jdd_ros.io.detection_msgs``)."""
    return detection_msgs.detection_array(make_message, detections, _header(stamp_ns, frame_id))


def _storage(path: Path, storage: str | None) -> tuple[Path, str]:
    """(bag directory, 'mcap' | 'sqlite3') for a path like out/run.mcap, out/run.db3 or out/run."""
    if path.suffix in BAG_SUFFIXES:
        return path.with_suffix(''), 'mcap' if path.suffix == '.mcap' else 'sqlite3'
    return path, storage or 'mcap'


class BagWriter:
    """A ROS 2 bag being written: ``put`` rosbags messages on topics (connections are added on first use)."""

    def __init__(self, path: str | Path, storage: str | None = None):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path, kind = _storage(Path(path), storage)
        self.storage_file = self.path / f'{self.path.name}.{"mcap" if kind == "mcap" else "db3"}'
        self._writer = Writer(self.path, version=9,
                              storage_plugin=StoragePlugin.MCAP if kind == 'mcap' else StoragePlugin.SQLITE3)
        self._conns: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def put(self, topic: str, msgtype: str, msg: object, ns: int) -> None:
        store = typestore()
        if topic not in self._conns:
            self._conns[topic] = self._writer.add_connection(topic, msgtype, typestore=store)
        self._writer.write(self._conns[topic], int(ns), store.serialize_cdr(msg, msgtype))


def write_bag(path: str | Path, frames: Iterable[RGBDFrame], *, rate_hz: float = 10.0,
              start_ns: int = 1_700_000_000_000_000_000, depth_encodings: Sequence[str] = ('16UC1',),
              image_encoding: str = 'rgb8', frame_id: str = 'camera_color_optical_frame',
              topics: BagTopics = BagTopics(), storage: str | None = None) -> WrittenBag:
    """Write frames as a ROS 2 bag at ``rate_hz`` (receive time = header stamp), one directory per bag.

    ``path`` ``out/run.mcap`` or ``out/run.db3`` chooses the storage by its suffix and writes the bag directory
    ``out/run``; a path without suffix uses ``storage`` ('mcap' default, or 'sqlite3'). Depth is written in each of
    ``depth_encodings`` ('16UC1' millimetres, 0 = invalid; '32FC1' metres, NaN = invalid); with both, the 32FC1 copy
    goes to ``<depth topic>_float``. Frames with known detections also get a Detection2DArray on
    ``topics.detections``. Existing bags are never overwritten (rosbags refuses).
    """
    for enc in depth_encodings:
        if enc not in DEPTH_WRITE_ENCODINGS:
            raise ValueError(f"depth encoding '{enc}' cannot be written (one of: {', '.join(DEPTH_WRITE_ENCODINGS)})")
    if image_encoding not in ('rgb8', 'bgr8'):
        raise ValueError(f"image encoding '{image_encoding}' cannot be written (rgb8 or bgr8)")
    if not rate_hz > 0:
        raise ValueError(f'rate_hz must be > 0, got {rate_hz}')
    period_ns = int(round(1e9 / rate_hz))
    with BagWriter(path, storage) as writer:
        written = WrittenBag(writer.path, writer.storage_file)
        for i, frame in enumerate(frames):
            ns = start_ns + i * period_ns
            written.stamps_ns.append(ns)
            rgb = np.asarray(frame.rgb)
            image = rgb if image_encoding == 'rgb8' else np.ascontiguousarray(rgb[:, :, ::-1])
            writer.put(topics.image, IMAGE_TYPE, image_message(image, image_encoding, ns, frame_id), ns)
            if frame.depth_m is not None:
                for enc in depth_encodings:
                    topic = topics.depth if enc == depth_encodings[0] else topics.depth + '_float'
                    msg = image_message(encode_depth(frame.depth_m, enc), enc, ns, frame_id)
                    writer.put(topic, IMAGE_TYPE, msg, ns)
            if frame.intrinsics is not None:
                info = camera_info_message(frame.intrinsics, ns, frame_id)
                writer.put(topics.camera_info, CAMERA_INFO_TYPE, info, ns)
            if frame.detections is not None:
                writer.put(topics.detections, DETECTIONS_TYPE, detections_message(frame.detections, ns, frame_id), ns)
    return written


def encode_depth(depth_m: np.ndarray, encoding: str) -> np.ndarray:
    """Metres (NaN/0/inf invalid) as REP 118 16UC1 millimetres (0 invalid) or 32FC1 metres (NaN invalid)."""
    depth = np.asarray(depth_m, dtype=np.float32)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
    if encoding == '32FC1':
        return np.where(valid, depth, np.float32(np.nan)).astype(np.float32)
    if encoding == '16UC1':
        mm = np.zeros(depth.shape, dtype=np.uint16)
        mm[valid] = np.clip(np.round(depth[valid] * 1000.0), 1, 65535).astype(np.uint16)
        return mm
    raise ValueError(f"unknown depth encoding '{encoding}'")


@dataclass
class BagMessage:
    topic: str
    msgtype: str
    log_time_ns: int
    raw: bytes

    def decode(self) -> object:
        """The rosbags message (a dataclass of the type ``msgtype`` names)."""
        return typestore().deserialize_cdr(self.raw, self.msgtype)


def open_bag(path: str | Path) -> Reader:
    """A rosbags Reader for a bag directory or a single .mcap/.db3 file (not yet opened)."""
    from rosbags.rosbag2 import Reader

    return Reader(Path(path))


def bag_topics(path: str | Path) -> dict[str, str]:
    """``{topic: message type}`` of a bag."""
    with open_bag(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """The bag's messages in receive-time order (raw CDR; ``.decode()`` for a message object)."""
    wanted = None if topics is None else set(topics)
    with open_bag(path) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, ns, raw in reader.messages(connections=conns):
            yield BagMessage(conn.topic, conn.msgtype, ns, bytes(raw))


def header_stamp_ns(msg: StampedFields) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def guess_topics(types: dict[str, str], sample: dict[str, ImageFields] | None = None) -> BagTopics:
    """The image, depth, camera_info and detections topics of a bag, from their types and names.

    ``sample`` maps topic -> one decoded message, used to tell colour from depth images by their encoding.
    """
    image = depth = info = dets = ''
    for topic, msgtype in sorted(types.items()):
        if msgtype == IMAGE_TYPE:
            first = (sample or {}).get(topic)
            enc = first.encoding if first is not None else ''
            is_depth = enc in DEPTH_ENCODINGS if enc else 'depth' in topic
            if is_depth and not depth:
                depth = topic
            elif not is_depth and not image:
                image = topic
        elif msgtype == COMPRESSED_TYPE and not image and 'depth' not in topic:
            image = topic
        elif msgtype == CAMERA_INFO_TYPE and not info:
            info = topic
        elif msgtype == DETECTIONS_TYPE and not dets:
            dets = topic
    return BagTopics(image=image, depth=depth, camera_info=info, detections=dets)


def find_topics(path: str | Path) -> BagTopics:
    """``guess_topics`` for a bag, given the first message of each of its Image topics (read up to there only)."""
    types = bag_topics(path)
    image_topics = [t for t, ty in types.items() if ty == IMAGE_TYPE]
    sample: dict[str, ImageFields] = {}
    if image_topics:  # (no topics to read_messages would mean every topic)
        for m in read_messages(path, image_topics):
            sample.setdefault(m.topic, cast(ImageFields, m.decode()))
            if len(sample) == len(image_topics):
                break
    return guess_topics(types, sample)


def read_frames(path: str | Path, topics: BagTopics | None = None, window: int = 30
                ) -> Iterator[tuple[int, RGBDFrame]]:
    """(header stamp ns, frame) for every image of a bag, with the depth, camera_info and detections of its stamp.

    Messages are joined by exact header stamp. A frame is emitted once ``window`` newer images have been read (or at
    the end), so depth or detections recorded from a slower node, up to ``window`` frames late, still find their
    image; memory stays bounded by that window.
    """
    if topics is None:
        topics = find_topics(path)
    if not topics.image:
        raise ValueError(f'{path}: no colour image topic found (topics: {bag_topics(path)})')
    pending: dict[int, RGBDFrame] = {}
    order: list[int] = []
    wanted = [t for t in (topics.image, topics.depth, topics.camera_info, topics.detections) if t]
    depth_of: dict[int, np.ndarray] = {}
    info_of: dict[int, CameraIntrinsics] = {}
    dets_of: dict[int, list[Detection]] = {}
    for m in read_messages(path, wanted):
        msg = m.decode()
        ns = header_stamp_ns(cast(StampedFields, msg))
        if m.topic == topics.image:
            pending[ns] = RGBDFrame(rgb=_rgb_of(m.msgtype, msg))
            order.append(ns)
        elif m.topic == topics.depth:
            image = cast(ImageFields, msg)
            depth_of[ns] = np.array(depth_to_metres(image_to_numpy(image), image.encoding), dtype=np.float32)
        elif m.topic == topics.camera_info:
            try:
                info_of[ns] = intrinsics_from_camera_info(cast(CameraInfoFields, msg))
            except ValueError:
                pass  # uncalibrated (K all zeros) or without image size: the frame has no intrinsics
        elif m.topic == topics.detections:
            dets_of[ns] = _detections_from(cast(Detection2DArrayFields, msg))
        while len(order) > window:
            yield _emit(order.pop(0), pending, depth_of, info_of, dets_of)
    while order:
        yield _emit(order.pop(0), pending, depth_of, info_of, dets_of)


def _rgb_of(msgtype: str, msg: object) -> np.ndarray:
    """A bag's Image or CompressedImage as HxWx3 uint8 RGB."""
    if msgtype == COMPRESSED_TYPE:
        array, enc = compressed_to_numpy(cast(CompressedImageFields, msg))
    else:
        image = cast(ImageFields, msg)
        array, enc = image_to_numpy(image), image.encoding
    return np.ascontiguousarray(to_rgb8(array, enc))


def _emit(ns: int, pending: dict[int, RGBDFrame], depth_of: dict[int, np.ndarray],
          info_of: dict[int, CameraIntrinsics], dets_of: dict[int, list[Detection]]) -> tuple[int, RGBDFrame]:
    frame = pending.pop(ns)
    frame.depth_m = depth_of.pop(ns, None)
    frame.detections = dets_of.pop(ns, None)
    same = info_of.get(ns)
    older = [k for k in info_of if k <= ns]
    frame.intrinsics = same or (info_of[max(older)] if older else None)  # camera_info is often sent less often
    for table in (depth_of, dets_of):  # never keep more than the recent stamps
        for old in [k for k in table if k < ns]:
            del table[old]
    newest_used = ns if same else (max(older) if older else None)
    for old in [k for k in info_of if newest_used is not None and k < newest_used]:
        del info_of[old]
    return ns, frame


def _detections_from(msg: Detection2DArrayFields) -> list[Detection]:
    return detection_msgs.read_detection_array(msg).detections

"""The size of the image the detections' boxes are in, as the fusion node learns it; no ROS imports.

A Detection2DArray does not say the size of the image its boxes are in, and the depth image may have another size
(a depth model's output, a sensor at another resolution), so the fusion node learns it from the last usable message
on ``image`` (the detector's input: first choice) or ``camera_info``. Only messages already checked are given here,
so a malformed one never changes the size later pairs are fused with. Without either, boxes are taken to be in depth
pixels: right when detector and depth image have one size, wrong otherwise, and that cannot be told from the boxes
alone when they happen to lie inside the depth image. So each change of what is assumed gives one note to log: a
warning when the assumption starts (naming what to connect), and a line when it stops or the known size changes.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE, CAMERA_INFO = 'image', 'camera_info'
_ASSUMED = 'depth pixels'


@dataclass(frozen=True)
class Note:
    """A line to log once: ``warning`` is True while boxes are taken to be in depth pixels."""

    text: str
    warning: bool = False


class DetectionImageSize:
    """The detections' image size from ``image`` (first choice) or ``camera_info``, with a note whenever what is used
    changes: from ``set`` when a source gives a new size, from ``for_pair`` when boxes start being taken to be in
    depth pixels."""

    def __init__(self) -> None:
        self._sizes: dict[str, tuple[int, int] | None] = {IMAGE: None, CAMERA_INFO: None}
        self._assumed: tuple[int, int] | None = None  # the depth size boxes were last taken to be in

    def set(self, source: str, width: int, height: int) -> Note | None:
        """The size told by a checked message of ``source`` (IMAGE or CAMERA_INFO); a note when the size in use
        changes; ValueError (nothing changed) when the size is not positive."""
        if source not in self._sizes:
            raise ValueError(f"unknown image size source '{source}' (one of: {', '.join(self._sizes)})")
        if int(width) <= 0 or int(height) <= 0:
            raise ValueError(f'an image size must be positive, got {width}x{height}')
        before = self.known
        self._sizes[source] = (int(width), int(height))
        after = self.known
        if after == before:
            return None
        w, h = after[1]
        if self._assumed is not None:
            self._assumed = None
            return Note(f"the detections' image size is now known from {after[0]}: {w}x{h}; boxes are no longer "
                        'taken to be in depth pixels')
        return Note(f"the detections' image size is {w}x{h} (from {after[0]})")

    def get(self, source: str) -> tuple[int, int] | None:
        return self._sizes[source]

    def describe(self) -> str:
        """'640x480 (from image)', or 'unknown'."""
        known = self.known
        return f'{known[1][0]}x{known[1][1]} (from {known[0]})' if known else 'unknown'

    @property
    def known(self) -> tuple[str, tuple[int, int]] | None:
        """(source, (width, height)) of the size in use, or None when neither source has given one."""
        for source in (IMAGE, CAMERA_INFO):
            size = self._sizes[source]
            if size is not None:
                return source, size
        return None

    def for_pair(self, depth_size: tuple[int, int]) -> tuple[tuple[int, int] | None, Note | None]:
        """(the detections' image size to fuse a pair with, None: boxes taken to be in depth pixels; a warning when
        that assumption starts, or is made for another depth size)."""
        known = self.known
        if known is not None:
            return known[1], None
        depth_size = (int(depth_size[0]), int(depth_size[1]))
        if depth_size == self._assumed:
            return None, None
        self._assumed = depth_size
        w, h = depth_size
        return None, Note(
            "the detections' image size is unknown (no usable message on image or camera_info yet): boxes are taken "
            f"to be in the pixels of the {w}x{h} depth image. If the detector's image has another size, distances "
            "are read in the wrong place: connect image or camera_info (remap them to the camera's topics, as the "
            'launch file does)', warning=True)

"""sensor_msgs/Image and CompressedImage <-> numpy, without ROS imports.

ROS 2's cv_bridge cannot be installed where jdd_ros must also run (no ROS apt repository; the PyPI ``cv-bridge`` is
a ROS 1 port that maps 16UC1 wrongly), so this small codec is the package's one conversion path. It works on any
object with the Image fields (duck typing), so it is tested without ROS. Reading is a zero-copy view of the message
buffer (one copy only when the byte order must be swapped); writing is one copy (``tobytes``), the fastest way to
fill an rclpy message.
"""

from __future__ import annotations

import struct
import sys
from typing import TypeVar

import numpy as np

from jdd_ros.io.message_fields import CompressedImageFields, ImageFields

ImageMsg = TypeVar('ImageMsg', bound=ImageFields)

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4),
    'bgra8': (np.dtype(np.uint8), 4),
    'mono8': (np.dtype(np.uint8), 1),
    '8UC1': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}
COLOR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', 'mono16')
DEPTH_ENCODINGS = ('32FC1', '16UC1', 'mono16')
_HOST_BIG_ENDIAN = sys.byteorder == 'big'


class ImageFormatError(ValueError):
    """An image message that cannot be decoded: the text names the encoding and the sizes involved, ``cause`` says
    why in a few words (a counter key)."""

    def __init__(self, text: str, cause: str = 'undecodable') -> None:
        super().__init__(text)
        self.cause = cause


def _supported() -> str:
    return ', '.join(ENCODINGS)


def image_to_numpy(msg: ImageFields) -> np.ndarray:
    """Decode a sensor_msgs/Image (or anything with its fields) to an HxW or HxWxC array.

    The result is a read-only view of ``msg.data`` when the byte order is native: copy it before keeping it beyond
    the message's lifetime or writing to it.
    """
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported image encoding '{encoding}' (supported: {_supported()})",
                               'unsupported encoding')
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"empty {encoding} image: {width}x{height}", 'empty image')
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(
            f'{encoding} image {width}x{height}: step {step} is smaller than a row ({width} px x {channels} ch x '
            f'{dtype.itemsize} B = {row_bytes} B)', 'step smaller than a row')
    buf = msg.data  # bytes, bytearray or array.array('B') (rclpy): all expose the buffer protocol
    if len(buf) < step * height:
        raise ImageFormatError(
            f'{encoding} image {width}x{height}: data has {len(buf)} bytes, step x height = {step} x {height} = '
            f'{step * height} bytes expected', 'data shorter than step x height')
    rows = np.frombuffer(buf, dtype=np.uint8, count=step * height).reshape(height, step)[:, :row_bytes]
    big = bool(msg.is_bigendian)
    arr = rows.view(dtype.newbyteorder('>' if big else '<'))
    if dtype.itemsize > 1 and big != _HOST_BIG_ENDIAN:
        arr = arr.astype(dtype)  # the one case that needs a copy
    arr = arr.reshape(height, width, channels) if channels > 1 else arr.reshape(height, width)
    if arr.flags.writeable and arr.base is not None:
        arr.flags.writeable = False
    return arr


def colour_image_size(msg: ImageFields) -> tuple[int, int]:
    """(width, height) of a colour image message that decodes (``image_to_numpy``); ImageFormatError otherwise, so
    that a malformed message never passes for its declared size."""
    image_to_numpy(msg)
    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageFormatError(
            f"encoding '{msg.encoding}' is not a colour image (colour encodings: {', '.join(COLOR_ENCODINGS)})",
            'not a colour encoding')
    return int(msg.width), int(msg.height)


def fill_image(msg: ImageMsg, array: np.ndarray, encoding: str) -> ImageMsg:
    """Write ``array`` into ``msg`` (an empty sensor_msgs/Image) with ``encoding``; returns ``msg``.

    The header is left to the caller, who copies it from the input image.
    """
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported image encoding '{encoding}' (supported: {_supported()})")
    dtype, channels = ENCODINGS[encoding]
    array = np.asarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim == 3 and channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ImageFormatError(f'array of shape {array.shape} cannot be written as {encoding} ({channels} channel(s))')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageFormatError(f'empty array of shape {array.shape} cannot be written as {encoding}')
    if array.dtype != dtype:
        raise ImageFormatError(f'array dtype {array.dtype} does not match {encoding} ({dtype})')
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 1 if _HOST_BIG_ENDIAN and dtype.itemsize > 1 else 0
    msg.step = int(array.shape[1] * channels * dtype.itemsize)
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Any supported colour or mono image as HxWx3 uint8 RGB (what the detector and depth models take)."""
    import cv2

    if encoding == 'rgb8':
        return array
    if encoding == 'bgr8':
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if encoding == 'rgba8':
        return cv2.cvtColor(array, cv2.COLOR_RGBA2RGB)
    if encoding == 'bgra8':
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    if encoding in ('mono8', '8UC1'):
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if encoding == 'mono16':  # full 16-bit range onto 8 bits, as rosbags-image and cv_bridge scale it (x 255/65535)
        return cv2.cvtColor(np.multiply(array, 255.0 / 65535.0).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    raise ImageFormatError(
        f"encoding '{encoding}' is not a colour image (colour encodings: {', '.join(COLOR_ENCODINGS)})",
        'not a colour encoding')


def depth_to_metres(array: np.ndarray, encoding: str) -> np.ndarray:
    """A depth image in metres per REP 118: 32FC1 is metres (returned as is), 16UC1/mono16 millimetres (0, invalid,
    becomes NaN). Consumers treat 0, NaN and inf alike as invalid, so 32FC1 needs no copy here."""
    if encoding == '32FC1':
        return array
    if encoding in ('16UC1', 'mono16'):
        metres = array.astype(np.float32) * np.float32(0.001)
        metres[array == 0] = np.nan
        return metres
    raise ImageFormatError(
        f"encoding '{encoding}' is not a depth image (depth encodings: {', '.join(DEPTH_ENCODINGS)})",
        'not a depth encoding')


def compressed_to_numpy(msg: CompressedImageFields) -> tuple[np.ndarray, str]:
    """Decode a sensor_msgs/CompressedImage (jpeg/png, and image_transport's compressedDepth) to (array, encoding).

    compressedDepth of 32FC1 depth stores quantised inverse depth, not millimetres: it is turned back into metres
    (32FC1) with the header's parameters, as image_transport's own decoder does.
    """
    import cv2

    fmt = (msg.format or '').lower()
    data = np.frombuffer(msg.data, dtype=np.uint8)
    inverse_depth = None
    if 'compresseddepth' in fmt:
        # compressedDepth: a 12-byte ConfigHeader (int32 format enum, float32 depthQuantA, depthQuantB) before a PNG.
        if len(data) <= 12:
            raise ImageFormatError(f'compressedDepth image of {len(data)} bytes has no payload after its header')
        if fmt.startswith('32fc1'):
            inverse_depth = struct.unpack('<iff', data[:12].tobytes())[1:]
        data = data[12:]
    if data.size == 0:
        raise ImageFormatError(f"empty compressed image (format '{msg.format}')")
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageFormatError(f"could not decode compressed image (format '{msg.format}', {data.size} bytes)")
    if inverse_depth is not None:
        if decoded.dtype != np.uint16 or decoded.ndim != 2:
            raise ImageFormatError(f"compressedDepth image (format '{msg.format}') holds {decoded.dtype} with shape "
                                   f'{decoded.shape}, not 16-bit inverse depth')
        quant_a, quant_b = (np.float32(v) for v in inverse_depth)
        with np.errstate(divide='ignore'):
            metres = quant_a / (decoded.astype(np.float32) - quant_b)
        metres[decoded == 0] = np.nan  # 0: no reading (or beyond the encoder's depth_max)
        return metres, '32FC1'
    if decoded.dtype == np.uint16:
        return decoded, '16UC1'
    if decoded.ndim == 2:
        return decoded, 'mono8'
    if decoded.shape[2] == 4:
        return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB), 'rgb8'
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), 'rgb8'

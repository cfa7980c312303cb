"""The image codec against rosbags-image (an independent implementation), on real sensor_msgs messages."""

import struct
from collections import defaultdict

import cv2
import numpy as np
import pytest
from harness import fixture
from rosbags.image import compressed_image_to_cvimage, image_to_cvimage
from sensor_msgs.msg import CompressedImage, Image

from jdd_ros.io import image_codec
from jdd_ros.io.image_codec import (
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    ENCODINGS,
    ImageFormatError,
    compressed_to_numpy,
    depth_to_metres,
    fill_image,
    image_to_numpy,
    to_rgb8,
)

CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '8UC1': 1, 'mono16': 1, '16UC1': 1, '32FC1': 1}
DTYPES = {'mono16': np.uint16, '16UC1': np.uint16, '32FC1': np.float32}


def sample(encoding, height=7, width=5, seed=0):
    rng = np.random.default_rng(seed)
    dtype = DTYPES.get(encoding, np.uint8)
    shape = (height, width) if CHANNELS[encoding] == 1 else (height, width, CHANNELS[encoding])
    if dtype is np.float32:
        return rng.uniform(0.1, 10.0, size=shape).astype(np.float32)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


def raw_msg(array, encoding, pad=0, big_endian=False):
    """A message built by hand (not by the codec): rows of ``pad`` extra bytes, optionally big-endian."""
    height, width = array.shape[:2]
    data = array.astype(array.dtype.newbyteorder('>' if big_endian else '<')).reshape(height, -1).view(np.uint8)
    rows = np.zeros((height, data.shape[1] + pad), np.uint8)
    rows[:, :data.shape[1]] = data
    return Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian),
                 step=data.shape[1] + pad, data=rows.tobytes())


# codec function -> the encodings it returned a result for in this module's tests (recorded by a spy, so what counts
# is what the tests really ran, not what they list).
EXERCISED: dict[str, set[str]] = defaultdict(set)
RAN: set[str] = set()  # node ids of this module's tests that ran
# What each function must have been exercised with: every encoding it accepts.
MUST_EXERCISE = {'image_to_numpy': set(ENCODINGS), 'fill_image': set(ENCODINGS), 'to_rgb8': set(COLOR_ENCODINGS),
                 'depth_to_metres': set(DEPTH_ENCODINGS)}


def _spy(name, encoding_of):
    real = getattr(image_codec, name)

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)  # only calls that succeed count
        EXERCISED[name].add(encoding_of(*args, **kwargs))
        return result
    return spy


@pytest.fixture(autouse=True)
def record_encodings(request, monkeypatch):
    """The codec functions this module calls, wrapped to record the encodings they decoded or encoded."""
    for name, encoding_of in (('image_to_numpy', lambda msg: msg.encoding),
                              ('fill_image', lambda msg, array, encoding: encoding),
                              ('to_rgb8', lambda array, encoding: encoding),
                              ('depth_to_metres', lambda array, encoding: encoding)):
        monkeypatch.setitem(globals(), name, _spy(name, encoding_of))
    yield
    RAN.add(request.node.nodeid)


@pytest.mark.parametrize('encoding', list(CHANNELS))
def test_decode_matches_rosbags_image(encoding):
    array = sample(encoding)
    msg = raw_msg(array, encoding)
    ours = image_to_numpy(msg)
    reference = image_to_cvimage(msg)
    assert ours.dtype == reference.dtype and ours.shape == reference.shape
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(ours, array)
    assert np.shares_memory(ours, np.frombuffer(msg.data, np.uint8))  # zero-copy read
    assert not ours.flags.writeable  # a view of the message: must not be written through


@pytest.mark.parametrize('encoding', list(CHANNELS))
def test_step_padding_is_honoured(encoding):
    array = sample(encoding, seed=1)
    padded = raw_msg(array, encoding, pad=13)
    # rosbags-image ignores step, so it is given the unpadded message as the reference.
    np.testing.assert_array_equal(image_to_numpy(padded), image_to_cvimage(raw_msg(array, encoding)))


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1', 'mono16'])
def test_big_endian(encoding):
    array = sample(encoding, seed=2)
    msg = raw_msg(array, encoding, pad=2, big_endian=True)
    ours = image_to_numpy(msg)
    np.testing.assert_array_equal(ours, image_to_cvimage(raw_msg(array, encoding, big_endian=True)))
    np.testing.assert_array_equal(ours, array)
    assert ours.dtype.isnative


@pytest.mark.parametrize('encoding', list(CHANNELS))
def test_encode_round_trips_through_rosbags_image(encoding):
    array = sample(encoding, height=480, width=640, seed=3)
    msg = fill_image(Image(), array, encoding)
    assert (msg.height, msg.width, msg.encoding) == (480, 640, encoding)
    assert msg.step == 640 * CHANNELS[encoding] * array.dtype.itemsize
    np.testing.assert_array_equal(image_to_cvimage(msg), array)


def test_depth_units_rep118():
    mm = np.array([[0, 1000, 65535]], np.uint16)
    metres = depth_to_metres(image_to_numpy(fill_image(Image(), mm, '16UC1')), '16UC1')
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(1.0) and metres[0, 2] == pytest.approx(65.535)
    f = np.array([[1.5, np.nan]], np.float32)
    np.testing.assert_array_equal(depth_to_metres(image_to_numpy(fill_image(Image(), f, '32FC1')), '32FC1'), f)
    with pytest.raises(ImageFormatError, match="'rgb8' is not a depth image"):
        depth_to_metres(np.zeros((2, 2, 3), np.uint8), 'rgb8')


@pytest.mark.parametrize('encoding', COLOR_ENCODINGS)
def test_to_rgb8_matches_rosbags_colour_conversion(encoding):
    msg = raw_msg(sample(encoding, seed=4), encoding)
    reference = image_to_cvimage(msg if encoding != '8UC1' else raw_msg(sample(encoding, seed=4), 'mono8'), 'rgb8')
    np.testing.assert_array_equal(to_rgb8(image_to_numpy(msg), encoding), reference)


def test_mono16_is_read_as_depth_in_millimetres_like_16uc1():
    """REP 118 allows mono16 for depth: read as millimetres, 0 invalid, exactly as 16UC1."""
    mm = np.array([[0, 1, 1500], [65535, 0, 42]], np.uint16)
    metres = depth_to_metres(image_to_numpy(fill_image(Image(), mm, 'mono16')), 'mono16')
    expected = np.where(mm == 0, np.nan, mm.astype(np.float64) / 1000.0)
    np.testing.assert_allclose(metres, expected, rtol=1e-6)
    assert metres.dtype == np.float32


@pytest.fixture(scope='module')
def tum_bgr():
    return cv2.imread(str(fixture('tum_desk_color.png')))


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_compressed_colour_matches_rosbags_image(tum_bgr, fmt):
    ok, buf = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', tum_bgr)
    msg = CompressedImage(format=f'bgr8; {fmt} compressed bgr8', data=buf.tobytes())
    ours, encoding = compressed_to_numpy(msg)
    assert encoding == 'rgb8' and ours.shape == (480, 640, 3)
    np.testing.assert_array_equal(ours, compressed_image_to_cvimage(msg, 'rgb8'))
    if fmt == 'png':  # lossless: the original pixels
        np.testing.assert_array_equal(ours, cv2.cvtColor(tum_bgr, cv2.COLOR_BGR2RGB))


def test_compressed_depth_png_is_16uc1():
    path = fixture('tum_desk_depth_mm.png')
    reference = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    png = path.read_bytes()
    ours, encoding = compressed_to_numpy(CompressedImage(format='16UC1; png compressed', data=png))
    assert encoding == '16UC1'
    np.testing.assert_array_equal(ours, reference)
    header = bytes(12)  # image_transport compressedDepth: a 12-byte config header before the PNG
    ours, _ = compressed_to_numpy(CompressedImage(format='16UC1; compressedDepth png', data=header + png))
    np.testing.assert_array_equal(ours, reference)


def test_compressed_depth_32fc1_is_inverse_depth_in_metres():
    """image_transport's compressedDepth codec stores 32FC1 depth as quantised inverse depth; encoded here the way
    its encoder does (depth_max 10 m, quantisation 100), the decoded metres match within its quantisation step."""
    depth = np.full((40, 50), np.nan, np.float32)
    depth[:, 10:] = np.linspace(0.3, 9.5, 40 * 40, dtype=np.float32).reshape(40, 40)
    quant_a = np.float32(100.0 * (100.0 + 1.0))
    quant_b = np.float32(1.0 - quant_a / 10.0)
    with np.errstate(invalid='ignore'):
        inverse = np.where(np.isfinite(depth), quant_a / depth + quant_b, 0).astype(np.uint16)  # C++ truncates
    ok, png = cv2.imencode('.png', inverse)
    header = struct.pack('<iff', 0, quant_a, quant_b)
    ours, encoding = compressed_to_numpy(CompressedImage(format='32FC1; compressedDepth png',
                                                         data=header + png.tobytes()))
    assert encoding == '32FC1' and ours.dtype == np.float32 and ours.shape == depth.shape
    assert np.isnan(ours[:, :10]).all()
    step = depth[:, 10:] ** 2 / quant_a  # one inverse-depth unit, in metres, at each depth
    assert (np.abs(ours[:, 10:] - depth[:, 10:]) <= 1.01 * step).all()
    assert float(np.abs(ours[:, 10:] - depth[:, 10:]).max()) > 0  # really quantised: not a copy of the input


def test_errors_name_the_encoding_and_sizes():
    with pytest.raises(ImageFormatError, match="unsupported image encoding 'yuv422'.*supported: rgb8"):
        image_to_numpy(Image(height=2, width=2, encoding='yuv422', step=4, data=bytes(8)))
    with pytest.raises(ImageFormatError, match=r'32FC1 image 640x480: data has 100 bytes.*2560 x 480'):
        image_to_numpy(Image(height=480, width=640, encoding='32FC1', step=2560, data=bytes(100)))
    with pytest.raises(ImageFormatError, match=r'rgb8 image 10x2: step 20 is smaller than a row.*30 B'):
        image_to_numpy(Image(height=2, width=10, encoding='rgb8', step=20, data=bytes(40)))
    with pytest.raises(ImageFormatError, match='empty 16UC1 image: 0x0'):
        image_to_numpy(Image(encoding='16UC1'))
    with pytest.raises(ImageFormatError, match=r'shape \(4, 4, 3\) cannot be written as 16UC1'):
        fill_image(Image(), np.zeros((4, 4, 3), np.uint16), '16UC1')
    with pytest.raises(ImageFormatError, match='dtype float64 does not match 32FC1'):
        fill_image(Image(), np.zeros((4, 4)), '32FC1')
    with pytest.raises(ImageFormatError, match="could not decode compressed image \\(format 'jpeg', 5 bytes\\)"):
        compressed_to_numpy(CompressedImage(format='jpeg', data=b'\x00\x01\x02\x03\x04'))


@pytest.mark.parametrize('fields,cause', [
    (dict(width=1280, height=960, encoding='rgb8', step=3840, data=bytes(100)), 'data shorter than step x height'),
    (dict(width=20000, height=20000, encoding='rgb8', step=60000, data=bytes(100)), 'data shorter than step x height'),
    (dict(width=4, height=2, encoding='rgb8', step=8, data=bytes(16)), 'step smaller than a row'),
    (dict(width=0, height=0, encoding='rgb8'), 'empty image'),
    (dict(width=2, height=2, encoding='yuv422', step=4, data=bytes(8)), 'unsupported encoding'),
    (dict(width=2, height=2, encoding='32FC1', step=8, data=bytes(16)), 'not a colour encoding'),
])
def test_a_malformed_image_never_passes_for_its_declared_size(fields, cause):
    from jdd_ros.io.image_codec import colour_image_size

    with pytest.raises(ImageFormatError) as exc:
        colour_image_size(Image(**fields))
    assert exc.value.cause == cause
    assert colour_image_size(Image(width=4, height=2, encoding='bgr8', step=12, data=bytes(24))) == (4, 2)


def test_camera_info_errors_say_whether_the_camera_is_only_uncalibrated():
    from sensor_msgs.msg import CameraInfo

    from jdd_ros.io.camera_info import CameraInfoError, camera_info_size, intrinsics_from_camera_info

    k = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
    assert intrinsics_from_camera_info(CameraInfo(width=640, height=480, k=k)).fx == 525.0
    for msg, cause, uncalibrated in ((CameraInfo(width=640, height=480), 'uncalibrated (K all zeros)', True),
                                     (CameraInfo(k=k), 'no image size', False),
                                     (CameraInfo(width=640, height=480, k=[float('nan')] + k[1:]), 'K unusable',
                                      False)):
        with pytest.raises(CameraInfoError) as exc:
            intrinsics_from_camera_info(msg)
        assert (exc.value.cause, exc.value.uncalibrated) == (cause, uncalibrated)
    assert camera_info_size(CameraInfo(width=640, height=480)) == (640, 480)
    assert camera_info_size(CameraInfo()) is None


def test_every_encoding_the_codec_accepts_is_tested_here(request, deselected_nodeids):
    """Last in this module: every encoding the codec accepts was decoded, encoded, converted to RGB (colour) or to
    metres (depth) by the tests above, as the spy recorded (8UC1 once went untested while a list said otherwise)."""
    prefix = request.node.nodeid.split('::')[0] + '::'  # by node id: a launch_testing item has no .module
    others = {item.nodeid for item in request.session.items if item.nodeid.startswith(prefix)} - {request.node.nodeid}
    if any(n.startswith(prefix) for n in deselected_nodeids) or not others <= RAN:
        pytest.skip('checks what the whole module exercised: run test/test_image_codec.py as a whole')
    assert set(CHANNELS) == set(ENCODINGS)
    assert {encoding: channels for encoding, (_, channels) in ENCODINGS.items()} == CHANNELS
    missing = {name: sorted(wanted - EXERCISED[name]) for name, wanted in MUST_EXERCISE.items()
               if wanted - EXERCISED[name]}
    assert not missing, f'encodings the codec accepts but no test here exercised: {missing}'

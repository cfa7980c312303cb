"""Real ROS 2 bags (.mcap, .db3) from real RGB-D frames and generated scenes, replayed into the fusion node.

The bag carries each frame's image, sensor depth (16UC1 or 32FC1), camera_info and boxes placed on real objects
(Detection2DArray). Expected distances are computed here directly from the depth PNG / the scene's exact depth.
"""

import threading
import time

import cv2
import numpy as np
import pytest
from harness import NodeProcess, fixture, mirror_box, real_rgbd_frames, reference_median
from rclpy.qos import QoSProfile, ReliabilityPolicy

from jdd_ros.core.detection import Detection
from jdd_ros.depth import synthetic_scenes
from jdd_ros.io import bags
from jdd_ros.io.frames import KINECT_640x480, RGBDFrame, read_depth_png, read_rgb
from jdd_ros.ros.bag_player import BagReplayer

# Boxes on real objects of the two real frames (x1, y1, x2, y2), as yolov4-tiny finds them on the TUM desk.
TUM_BOXES = [('chair', 6, 272, 242, 480), ('chair', 391, 217, 527, 425), ('book', 237, 206, 312, 248)]
REAL_BOXES = {
    'tum_desk': TUM_BOXES,
    'tum_desk_mirrored': [(n, *mirror_box(box)) for n, *box in TUM_BOXES[1:]],
}
TOPICS = bags.BagTopics()


def _frames():
    frames = real_rgbd_frames()
    for f in frames:
        f.detections = [Detection(n, 0.9, x1, y1, x2, y2) for n, x1, y1, x2, y2 in REAL_BOXES[f.name]]
    for seed in (1, 2):
        scene = synthetic_scenes.render_scene(seed, 480, 640)  # one camera: the real frames' size
        frames.append(RGBDFrame(scene.rgb, scene.depth, scene.intrinsics, name=f'scene{seed}', detections=[
            Detection(o.kind, 0.8, *o.bbox_xyxy) for o in scene.objects]))
    return frames



@pytest.fixture(scope='module')
def frames():
    return _frames()


@pytest.mark.parametrize('suffix,encodings', [('.mcap', ('16UC1', '32FC1')), ('.db3', ('32FC1',))])
def test_bag_round_trip_is_exact_and_readable_by_an_independent_decoder(tmp_path, frames, suffix, encodings):
    from rosbags.image import message_to_cvimage

    written = bags.write_bag(tmp_path / f'frames{suffix}', frames, depth_encodings=encodings, rate_hz=5)
    assert written.storage_file.suffix == suffix and written.storage_file.is_file()
    assert '  version: 9' in (written.path / 'metadata.yaml').read_text()  # rosbag2 metadata of Jazzy/Kilted
    types = bags.bag_topics(written.storage_file)
    assert types[TOPICS.image] == 'sensor_msgs/msg/Image' and types[TOPICS.detections] == bags.DETECTIONS_TYPE
    # Independent decoder (rosbags-image) on the stored messages.
    images = [m.decode() for m in bags.read_messages(written.path, [TOPICS.image, TOPICS.depth])]
    colour = [m for m in images if m.encoding == 'rgb8']
    depth = [m for m in images if m.encoding == encodings[0]]
    assert len(colour) == len(depth) == len(frames)
    for f, c, d in zip(frames, colour, depth):
        assert np.array_equal(message_to_cvimage(c), f.rgb)
        ref = message_to_cvimage(d)
        if encodings[0] == '16UC1':
            with np.errstate(invalid='ignore'):
                assert np.array_equal(ref, np.where(np.isfinite(f.depth_m), np.round(f.depth_m * 1000), 0))
        else:
            assert np.array_equal(np.isnan(ref), np.isnan(f.depth_m))
            assert np.nanmax(np.abs(ref - f.depth_m)) == 0
    # Our reader pairs every frame with its depth, camera_info and boxes by header stamp.
    read = list(bags.read_frames(written.storage_file))
    assert [ns for ns, _ in read] == written.stamps_ns
    assert written.stamps_ns[1] - written.stamps_ns[0] == 200_000_000
    for f, (_, g) in zip(frames, read):
        assert np.array_equal(g.rgb, f.rgb)
        assert np.nanmax(np.abs(g.depth_m - f.depth_m)) <= 0.0005 + 1e-6  # millimetre rounding of 16UC1
        assert g.intrinsics == f.intrinsics
        assert [d.xyxy() for d in g.detections] == [d.xyxy() for d in f.detections]


def test_vision_msgs_in_bags_have_the_upstream_type_hash():
    assert bags.typestore().hash_rihs01(bags.DETECTIONS_TYPE) == \
        'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968'


def test_a_bag_is_never_overwritten(tmp_path, frames):
    bags.write_bag(tmp_path / 'b.mcap', frames[:1])
    with pytest.raises(Exception, match='exists'):
        bags.write_bag(tmp_path / 'b.mcap', frames[:1])


def _fusion(domain_id, **params):
    return NodeProcess('fusion_node', domain_id, params={'use_sim_time': True, **params},
                       remap={'depth': TOPICS.depth, 'detections': TOPICS.detections,
                              'camera_info': TOPICS.camera_info, 'image': TOPICS.image})


def _stamps(msgs):
    return [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]


@pytest.mark.parametrize('suffix,encoding', [('.mcap', '16UC1'), ('.db3', '32FC1')])
def test_replayed_bag_gives_one_fused_result_per_frame_with_its_header_and_true_distances(
        tmp_path, frames, domain_id, ros_peer, suffix, encoding):
    """Every frame must come through, so the node subscribes reliably, as a user replaying a bag would set it:
    best-effort 640x480 images over Fast DDS's default transports lose fragments (see docs/bringup.md)."""
    from vision_msgs.msg import Detection2DArray

    written = bags.write_bag(tmp_path / f'replay{suffix}', frames, depth_encodings=(encoding,), rate_hz=5)
    inbox = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
    with _fusion(domain_id, reliability='reliable') as node:
        node.wait_for_output('fusion_node ready')
        replayer = BagReplayer(ros_peer.node, written.path)
        replayer.wait_for_subscribers([TOPICS.depth, TOPICS.detections, TOPICS.camera_info])
        ros_peer.wait_for_publishers('/detections_with_depth')
        stats = replayer.play(loops=2)  # the second loop jumps back in time: the node must reset, not stall
        got = inbox.wait_for(2 * len(frames), timeout=30)
        assert stats.published[TOPICS.depth] == 2 * len(frames)
        assert ros_peer.get_parameters('/fusion_node', ['use_sim_time']) == {'use_sim_time': True}
    assert len(got) == 2 * len(frames), f'{len(got)} results for {2 * len(frames)} frames'
    assert _stamps(got) == written.stamps_ns * 2
    assert {m.header.frame_id for m in got} == {'camera_color_optical_frame'}
    assert 'jumped back' in node.output
    for frame, msg in zip(frames * 2, got):
        truth = np.round(frame.depth_m * 1000) / 1000 if encoding == '16UC1' else frame.depth_m
        assert [d.results[0].hypothesis.class_id for d in msg.detections] == [d.class_name for d in frame.detections]
        for det, out in zip(frame.detections, msg.detections):
            z = out.results[0].pose.pose.position.z
            assert z == pytest.approx(reference_median(truth, det.xyxy()), abs=1e-3), (frame.name, det.class_name)


@pytest.mark.parametrize('reliability', [ReliabilityPolicy.BEST_EFFORT, ReliabilityPolicy.RELIABLE])
def test_best_effort_camera_and_reliable_player_both_reach_the_default_subscription(domain_id, ros_peer, reliability):
    """A camera driver publishes best-effort, ros2 bag play reliable: the default input QoS matches both."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    rendered = synthetic_scenes.render_scene(3, 240, 320)  # small: best-effort full-size frames lose fragments
    scene = RGBDFrame(rendered.rgb, rendered.depth, detections=[Detection(o.kind, 0.8, *o.bbox_xyxy)
                                                               for o in rendered.objects])
    with _fusion(domain_id) as node:
        node.wait_for_output('fusion_node ready')
        qos = QoSProfile(depth=5, reliability=reliability)
        depth_pub = ros_peer.publisher(Image, TOPICS.depth, qos)
        det_pub = ros_peer.publisher(Detection2DArray, TOPICS.detections, qos)
        inbox = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
        for pub in (depth_pub, det_pub):
            ros_peer.wait_for_subscribers(pub)
            node.wait_for_matched(pub.topic_name)  # the node's side of the match
        ros_peer.wait_for_publishers('/detections_with_depth')
        sent = []
        for i in range(5):  # best-effort may drop one: any joined frame will do
            sent.append(1_800_000_000_000_000_000 + i * 10**8)
            _publish_pair(depth_pub, det_pub, scene, sent[-1])
            time.sleep(0.1)
        got = inbox.wait_for(1, timeout=10)
        ros_peer.node.destroy_publisher(depth_pub)
        ros_peer.node.destroy_publisher(det_pub)
    assert 'incompatible' not in node.output
    assert set(_stamps(got)) <= set(sent)
    if reliability == ReliabilityPolicy.RELIABLE:
        assert len(inbox.messages) == 5
    for msg in got:
        zs = [d.results[0].pose.pose.position.z for d in msg.detections]
        truth = np.round(scene.depth_m * 1000) / 1000
        assert zs == pytest.approx([reference_median(truth, d.xyxy()) for d in scene.detections], abs=1e-3)


def _publish_pair(depth_pub, det_pub, frame, ns):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image

    from jdd_ros.io.image_codec import fill_image
    from jdd_ros.ros.messages import detections_to_msg

    depth = fill_image(Image(), bags.encode_depth(frame.depth_m, '16UC1'), '16UC1')
    depth.header.stamp = Time(sec=ns // 10**9, nanosec=ns % 10**9)
    depth.header.frame_id = 'cam'
    depth_pub.publish(depth)
    det_pub.publish(detections_to_msg(frame.detections, depth.header))


def test_shared_frames_are_read_as_metres_with_invalid_as_nan():
    rgb = read_rgb(fixture('tum_desk_color.png'))
    mm = cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)
    depth = read_depth_png(fixture('tum_desk_depth_mm.png'), 0.001)
    assert rgb.shape == (480, 640, 3) and depth.dtype == np.float32
    assert np.array_equal(np.isnan(depth), mm == 0)
    assert np.allclose(depth[mm > 0], mm[mm > 0] / 1000.0)
    assert KINECT_640x480.width == 640


def test_replay_stops_when_asked(tmp_path, frames, ros_peer):
    written = bags.write_bag(tmp_path / 'stop.mcap', frames[:2], rate_hz=1)
    replayer = BagReplayer(ros_peer.node, written.path, topics=[TOPICS.image])
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    stats = replayer.play(loops=None, stop=stop)
    assert stats.published[TOPICS.image] == 1 and stats.wall_s < 2.0



def test_replay_of_a_topic_the_bag_lacks_is_refused_with_the_bag_topics(tmp_path, frames, ros_peer):
    written = bags.write_bag(tmp_path / 'topics.mcap', frames[:1], rate_hz=1)
    with pytest.raises(ValueError, match=f'has no topic among /absent to play .*{TOPICS.image}'):
        BagReplayer(ros_peer.node, written.path, topics=['/absent'])

def test_replay_command_loops_with_remapping_and_clock_until_ctrl_c(tmp_path, frames, domain_id, ros_peer):
    import signal
    import subprocess

    from harness import BIN, ros_env
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo

    written = bags.write_bag(tmp_path / 'cli.mcap', frames, rate_hz=10)
    infos = ros_peer.subscribe(CameraInfo, '/replayed/camera_info')
    clock = ros_peer.subscribe(Clock, '/clock')
    proc = subprocess.Popen([str(BIN / 'jdd-ros'), 'replay', str(written.path), '--loop', '--topics',
                             TOPICS.camera_info, '--remap', f'{TOPICS.camera_info}:=/replayed/camera_info'],
                            env=ros_env(domain_id), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        infos.wait_for(2 * len(frames) + 1, timeout=30)  # more than a whole loop, whenever discovery completes
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    stamps = [bags.header_stamp_ns(m) for m in infos.messages]
    assert set(stamps) == set(written.stamps_ns)
    assert any(b < a for a, b in zip(stamps, stamps[1:])), 'no loop seen'
    ticks = [c.clock.sec * 10**9 + c.clock.nanosec for c in clock.messages]
    assert ticks and min(ticks) >= written.stamps_ns[0] and max(ticks) <= written.stamps_ns[-1] + 10**8


def test_full_size_frames_of_a_looping_bag_all_arrive_with_nothing_exported(tmp_path, frames, domain_id, ros_peer):
    """Nothing exported: jdd-ros replay and fusion_node configure their own DDS participants
    (config/fastdds_jdd_ros.xml) and the input follows the player's reliable QoS: every full-size frame is fused."""
    import signal
    import subprocess

    from harness import BIN, ros_env
    from vision_msgs.msg import Detection2DArray

    profile: dict[str, str] = {}
    real = frames[:2]  # the two 640x480 RGB-D frames
    written = bags.write_bag(tmp_path / 'large.mcap', real, rate_hz=5)
    inbox = ros_peer.subscribe(Detection2DArray, '/detections_with_depth')
    node = NodeProcess('fusion_node', domain_id, remap={'depth': TOPICS.depth, 'detections': TOPICS.detections},
                       **profile)
    with node:
        node.wait_for_output('fusion_node ready')
        ros_peer.wait_for_publishers('/detections_with_depth')
        player = subprocess.Popen([str(BIN / 'jdd-ros'), 'replay', str(written.path), '--loop', '--topics',
                                   TOPICS.depth, TOPICS.detections], env=ros_env(domain_id, **profile),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            inbox.wait_for(1, timeout=30)  # discovery done: from now on nothing may be lost
            inbox.clear()
            got = inbox.wait_for(3 * len(real), timeout=30)
        finally:
            player.send_signal(signal.SIGINT)
            player.communicate(timeout=20)
    assert "'reliability': 'auto'" in node.output  # the default: the inputs follow the (reliable) bag player
    assert f"input '{TOPICS.depth}': subscribed reliable" in node.output
    stamps = _stamps(got)
    assert all(b - a in (written.stamps_ns[1] - written.stamps_ns[0], written.stamps_ns[0] - written.stamps_ns[1])
               for a, b in zip(stamps, stamps[1:])), f'a frame was lost: {stamps}'
    for msg in got:
        frame = real[written.stamps_ns.index(_stamps([msg])[0])]
        for det, out in zip(frame.detections, msg.detections):
            truth = np.round(frame.depth_m * 1000) / 1000
            assert out.results[0].pose.pose.position.z == pytest.approx(reference_median(truth, det.xyxy()), abs=1e-3)


def test_depth_recorded_frames_later_than_its_image_still_pairs(tmp_path, frames):
    """A bag recorded from a live system: the depth node's output is logged several frames after its image."""
    period = 100_000_000
    start = 1_700_000_000_000_000_000
    real = frames[:2] * 3
    with bags.BagWriter(tmp_path / 'late.mcap') as writer:
        for i, f in enumerate(real):
            ns = start + i * period
            writer.put(TOPICS.image, bags.IMAGE_TYPE, bags.image_message(f.rgb, 'rgb8', ns, 'cam'), ns)
        for i, f in enumerate(real):  # each depth logged 4 frames after its image, with the image's stamp
            ns = start + i * period
            msg = bags.image_message(bags.encode_depth(f.depth_m, '32FC1'), '32FC1', ns, 'cam')
            writer.put(TOPICS.depth, bags.IMAGE_TYPE, msg, ns + 4 * period)
    read = list(bags.read_frames(tmp_path / 'late'))
    assert [ns for ns, _ in read] == [start + i * period for i in range(len(real))]
    for f, (_, g) in zip(real, read):
        assert np.array_equal(np.isnan(g.depth_m), np.isnan(f.depth_m))
        assert np.nanmax(np.abs(g.depth_m - f.depth_m)) == 0


def test_camera_info_without_calibration_or_size_gives_no_intrinsics(tmp_path):
    """Uncalibrated drivers publish K all zeros, some no image size: such a camera_info is skipped (the last usable
    one stays in force) and the bag is still read; a size-less one used to stop reading with a ValueError."""
    import dataclasses

    rgb = np.zeros((4, 6, 3), np.uint8)
    changes = [{}, {'k': np.zeros(9)}, {'width': 0, 'height': 0}]
    with bags.BagWriter(tmp_path / 'info.mcap') as writer:
        for i, change in enumerate(changes):
            ns = 1_700_000_000_000_000_000 + i * 100_000_000
            info = dataclasses.replace(bags.camera_info_message(KINECT_640x480, ns, 'cam'), **change)
            writer.put(TOPICS.image, bags.IMAGE_TYPE, bags.image_message(rgb, 'rgb8', ns, 'cam'), ns)
            writer.put(TOPICS.camera_info, bags.CAMERA_INFO_TYPE, info, ns)
    read = [frame.intrinsics for _, frame in bags.read_frames(tmp_path / 'info')]
    assert read == [KINECT_640x480, KINECT_640x480, KINECT_640x480]  # the last usable camera_info stays in force

"""The jdd_ros_msgs interface package: built by make setup into the venv (tools/build_vision_msgs.sh), found through
the ament index like any ROS package, and its messages round-trip through rclpy's serialization (the bytes DDS
carries) with every field, infinities and NaN included."""

from __future__ import annotations

import math
import subprocess

from harness import BIN, REPO


def test_tracked_object_array_round_trips_through_rclpy_serialization():
    from jdd_ros_msgs.msg import TrackedObject, TrackedObjectArray
    from rclpy.serialization import deserialize_message, serialize_message

    msg = TrackedObjectArray()
    msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec = 'camera', 1_700_000_000, 5
    a = TrackedObject(id='3', class_id='chair', score=0.9, distance=1.75, distance_variance=0.01, range_rate=-0.5,
                      range_rate_variance=0.002, time_to_contact=3.5, time_to_contact_variance=0.04,
                      time_to_contact_depth=3.4, time_to_contact_box=3.9, age=2.5, hits=25)
    a.bbox.center.position.x, a.bbox.center.position.y, a.bbox.size_x, a.bbox.size_y = 122.5, 365.0, 235.0, 220.0
    b = TrackedObject(id='8', class_id='bottle', distance=math.nan, range_rate=math.nan,
                      time_to_contact=math.inf, time_to_contact_box=math.inf, hits=1)
    msg.objects = [a, b]
    back = deserialize_message(serialize_message(msg), TrackedObjectArray)
    assert back.header == msg.header and back.objects[0] == a
    got = back.objects[1]
    assert (got.id, got.class_id, got.hits, got.time_to_contact, got.time_to_contact_box) == \
        ('8', 'bottle', 1, math.inf, math.inf)
    assert math.isnan(got.distance) and math.isnan(got.range_rate)


def test_the_package_is_in_the_ament_index_and_colcon_builds_it():
    from ament_index_python.packages import get_package_share_directory

    share = get_package_share_directory('jdd_ros_msgs')
    assert (REPO / 'interfaces' / 'jdd_ros_msgs' / 'package.xml').read_text() == \
        open(f'{share}/package.xml').read()
    # Unlike interfaces/vision_msgs (a ROS installation has its own), colcon must build this one.
    assert not (REPO / 'interfaces' / 'jdd_ros_msgs' / 'COLCON_IGNORE').exists()
    assert '<depend>jdd_ros_msgs</depend>' in (REPO / 'package.xml').read_text()


def test_the_build_script_skips_a_package_already_built():
    out = subprocess.run(['bash', str(REPO / 'tools' / 'build_vision_msgs.sh'), str(BIN.parent), 'jdd_ros_msgs'],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f'jdd_ros_msgs already built in {BIN.parent}'

"""The silent-input rule (core): one warning after SILENT_AFTER_S without a frame, naming the topic and the image
topics of the graph; again only when that list changes; a frame resets it. Fake clock, no ROS."""

from jdd_ros.core.silent_input import SILENT_AFTER_S, GraphTopic, SilentInput, image_topics

CAMERA = GraphTopic('/camera/color/image_raw', ('sensor_msgs/msg/Image',), 1)
COMPRESSED = GraphTopic('/camera/color/image_raw/compressed', ('sensor_msgs/msg/CompressedImage',), 1)
CHATTER = GraphTopic('/chatter', ('std_msgs/msg/String',), 1)
NOBODY = GraphTopic('/old/image', ('sensor_msgs/msg/Image',), 0)  # left in the graph by a subscriber only


def _run(watch, seconds, received, graph, start=0.0):
    """The node's 1 s check from ``start`` for ``seconds``: the warnings it would log."""
    logged = []
    for t in range(int(start), int(start + seconds) + 1):
        if watch.silent(float(t), received):
            text = watch.report(float(t), graph)
            if text:
                logged.append((t, text))
    return logged


def test_one_warning_after_ten_seconds_naming_the_topic_and_the_image_topics_that_exist():
    watch = SilentInput('/robot/camera/image', now=0.0)
    logged = _run(watch, 30, 0, [CHATTER, NOBODY, COMPRESSED, CAMERA])
    assert [t for t, _ in logged] == [SILENT_AFTER_S]
    text = logged[0][1]
    assert text.startswith("no image received on '/robot/camera/image' for 10 s; image topics in the ROS graph: ")
    assert "'/camera/color/image_raw' (sensor_msgs/msg/Image, 1 publisher(s))" in text
    assert "'/camera/color/image_raw/compressed' (sensor_msgs/msg/CompressedImage, 1 publisher(s))" in text
    assert '/chatter' not in text and '/old/image' not in text  # not images / nobody publishes
    assert 'image:=TOPIC' in text


def test_again_only_when_the_list_changes_and_after_a_frame_reset():
    watch = SilentInput('/image', now=0.0)
    assert len(_run(watch, 12, 0, [])) == 1
    first = watch.report(12.0, [])
    assert first is None  # same (empty) list: said once
    changed = _run(watch, 5, 0, [CAMERA], start=13)
    assert len(changed) == 1 and '/camera/color/image_raw' in changed[0][1]
    assert _run(watch, 5, 1, [CAMERA], start=18) == []  # a frame arrived: silence reset
    again = _run(watch, 15, 1, [CAMERA], start=18)
    assert [t for t, _ in again] == [28]  # silent once more for 10 s: said again


def test_no_image_topic_at_all_and_a_publisher_that_sends_nothing():
    watch = SilentInput('/image', now=0.0)
    (_, text), = _run(watch, 10, 0, [CHATTER])
    assert 'no other image topic is published in the ROS graph' in text and 'ROS_DOMAIN_ID' in text
    own = GraphTopic('/image', ('sensor_msgs/msg/Image',), 2)
    watch = SilentInput('/image', now=0.0)
    (_, text), = _run(watch, 10, 0, [own, CAMERA])
    assert "(it has 2 publisher(s), which sent nothing this node could receive)" in text
    assert "'/camera/color/image_raw'" in text and "'/image' (" not in text


def test_image_topics_keeps_published_images_sorted():
    assert image_topics([CHATTER, COMPRESSED, NOBODY, CAMERA]) == [CAMERA, COMPRESSED]


def test_a_publisher_that_stopped_sending():
    watch = SilentInput('/image', now=0.0)
    own = GraphTopic('/image', ('sensor_msgs/msg/Image',), 1)
    assert _run(watch, 3, 5, [own]) == []  # frames arrived (the counter moved)
    (_, text), = _run(watch, 12, 5, [own], start=4)
    assert "no image received on '/image' for 10 s (it has 1 publisher(s));" in text

"""The in-process hand-over of the one-process pipeline (``jdd_ros.ros.local_topics``): a declared topic's messages
reach their listeners as the very objects, in the offering thread; an undeclared topic gets no listener (the reader
subscribes over DDS instead); a listener removed gets nothing more."""

from __future__ import annotations

import threading

from jdd_ros.ros.local_topics import LocalTopics


def test_a_declared_topic_hands_the_same_message_object_to_its_listener_in_the_offering_thread():
    local = LocalTopics()
    local.provide('/front/depth')
    got: list[tuple[object, str]] = []
    assert local.listen('/front/depth', lambda m: got.append((m, threading.current_thread().name)))
    msg = object()
    worker = threading.Thread(target=lambda: local.offer('/front/depth', msg), name='depth_node_worker')
    worker.start()
    worker.join()
    assert got == [(msg, 'depth_node_worker')]


def test_an_undeclared_topic_gets_no_listener_and_another_cameras_topic_is_not_delivered():
    local = LocalTopics()
    local.provide('/front/depth')
    got: list[object] = []
    assert not local.listen('/other_depth', got.append)  # remapped input: the reader subscribes over DDS
    assert local.listen('/front/depth', got.append)
    assert local.offer('/left/depth', 'left frame') == 0
    assert local.offer('/other_depth', 'outside frame') == 0
    assert got == []


def test_a_removed_listener_gets_nothing_more_and_the_others_still_do():
    local = LocalTopics()
    local.provide('/detections')
    first: list[object] = []
    second: list[object] = []
    local.listen('/detections', first.append)
    local.listen('/detections', second.append)
    assert local.offer('/detections', 1) == 2
    local.unlisten('/detections', first.append)  # the fusion node deactivated
    assert local.offer('/detections', 2) == 1
    local.unlisten('/detections', second.append)
    assert local.offer('/detections', 3) == 0
    assert (first, second) == ([1], [1, 2])

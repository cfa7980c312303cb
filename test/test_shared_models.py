"""Several cameras in one pipeline process, without ROS: the camera list, one model per network shared by the
cameras' nodes, the launch plan of ``cameras:=front,left``, and the stage clock of the per-stage profile."""

from __future__ import annotations

import json
import threading
import time

import pytest

from jdd_ros import bringup
from jdd_ros.core.cameras import camera_namespaces
from jdd_ros.params import snapshot
from jdd_ros.ros.shared_models import SharedModels, model_key
from jdd_ros.ros.stage_clock import StageClock


def test_camera_list_becomes_namespaces_under_the_launch_namespace():
    assert camera_namespaces('front,left') == ['/front', '/left']
    assert camera_namespaces(' front , rear/low ') == ['/front', '/rear/low']
    assert camera_namespaces('front,left', namespace='/robot1/') == ['/robot1/front', '/robot1/left']
    assert camera_namespaces('') == []


@pytest.mark.parametrize('text, problem', [('front,front', "'front' is given twice"),
                                           ('front,/front', "'/front' is given twice"),
                                           ('2nd', "'2nd' is not a ROS namespace"),
                                           ('front,,left', "'' is not a ROS namespace"),
                                           ('fr-ont', "'fr-ont' is not a ROS namespace")])
def test_a_bad_camera_list_is_refused_naming_the_entry(text, problem):
    with pytest.raises(ValueError, match=problem):
        camera_namespaces(text)


def test_one_model_per_network_and_build_parameters():
    models = SharedModels()
    built = []

    def build(name):
        built.append(name)
        return object()

    a, fresh_a = models.acquire('detector_node', ('w', 1), '/front/detector_node', lambda: build('det'))
    b, fresh_b = models.acquire('detector_node', ('w', 1), '/left/detector_node', lambda: build('det again'))
    c, fresh_c = models.acquire('depth_node', ('w', 1), '/front/depth_node', lambda: build('depth'))
    d, fresh_d = models.acquire('detector_node', ('other', 1), '/rear/detector_node', lambda: build('other det'))
    assert (fresh_a, fresh_b, fresh_c, fresh_d) == (True, False, True, True)
    assert built == ['det', 'depth', 'other det'] and models.built == 3
    assert b.model is a.model and b.lock is a.lock and a.owner == '/front/detector_node'
    assert c.model is not a.model and d.model is not a.model and c.lock is not a.lock
    assert a.users == {'/front/detector_node', '/left/detector_node'}


def test_a_model_is_freed_with_its_last_user_and_built_again_when_needed():
    models = SharedModels()
    first, _ = models.acquire('depth_node', 1, '/front/depth_node', object)
    models.acquire('depth_node', 1, '/left/depth_node', object)
    models.release('/front/depth_node')
    kept, fresh = models.acquire('depth_node', 1, '/rear/depth_node', object)
    assert not fresh and kept.model is first.model  # /left still used it
    models.release('/left/depth_node')
    models.release('/rear/depth_node')
    again, fresh = models.acquire('depth_node', 1, '/front/depth_node', object)
    assert fresh and again.model is not first.model and models.built == 2


def test_nodes_configuring_at_once_build_one_model():
    models, calls, results = SharedModels(), [], []

    def slow_build():
        calls.append(1)
        time.sleep(0.05)
        return object()

    threads = [threading.Thread(target=lambda i=i: results.append(
        models.acquire('detector_node', 'k', f'/cam{i}/detector_node', slow_build)[0].model)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(m) for m in results}) == 1


def test_the_model_key_is_what_the_model_is_built_from():
    base = snapshot('detector_node', {'weights': '/m/a.weights'})
    tuned = snapshot('detector_node', {'weights': '/m/a.weights', 'confidence_threshold': 0.6, 'classes': ['cup'],
                                       'reliability': 'best_effort', 'max_depth': 3.0})
    other = snapshot('detector_node', {'weights': '/m/b.weights'})
    fp32 = snapshot('detector_node', {'weights': '/m/a.weights', 'precision': 'fp32'})
    assert model_key('detector_node', base) == model_key('detector_node', tuned)  # per frame, or QoS: one model
    assert len({model_key('detector_node', p) for p in (base, other, fp32)}) == 3
    depth = [snapshot('depth_node', {'checkpoint': '/m/d.pt', **extra})
             for extra in ({}, {'max_depth': 4.0, 'camera_height': 1.2}, {'input_height': 480})]
    keys = [model_key('depth_node', p) for p in depth]
    assert keys[0] == keys[1] and keys[0] != keys[2]


def _pipeline(values):
    nodes = bringup.plan({'depth_checkpoint': '/m/d.pt', **values})
    assert len(nodes) == 1 and nodes[0].executable == 'pipeline'
    return nodes[0]


def test_cameras_launch_one_pipeline_with_every_camera_in_its_namespace():
    one = _pipeline({})
    assert '--cameras' not in one.arguments and ('image', '/camera/image_raw') in one.remappings
    two = _pipeline({'cameras': 'front,left'})
    assert two.arguments[-2:] == ['--cameras', '/front,/left'] and two.namespace == ''
    assert not [r for r in two.remappings if r[0] in ('image', 'camera_info', 'depth')]  # each camera's own
    assert two.node_parameters == one.node_parameters  # the parameters per node as with one camera
    ns = _pipeline({'cameras': 'front,left', 'namespace': 'robot1', 'image': 'color/image_raw'})
    assert ns.arguments[-1] == '/robot1/front,/robot1/left' and ns.namespace == ''
    assert ('image', 'color/image_raw') in ns.remappings
    sensor = bringup.plan({'cameras': 'front', 'depth_source': 'sensor'})[0]
    assert sensor.arguments == ['--without-depth', '--cameras', '/front']


@pytest.mark.parametrize('values, problem', [
    ({'cameras': 'front,left', 'image': '/cam/image'}, r"relative to each camera's namespace: image:=/cam/image"),
    ({'cameras': 'front,left', 'composition': 'false'}, 'needs composition:=true'),
    ({'cameras': 'front,9'}, "'9' is not a ROS namespace"),
])
def test_cameras_launch_refuses_what_cannot_work(values, problem):
    with pytest.raises(ValueError, match=problem):
        bringup.plan({'depth_checkpoint': '/m/d.pt', **values})


def test_the_stage_clock_keeps_the_first_stamp_of_each_stage_and_writes_them(tmp_path):
    clock = StageClock(tmp_path / 'stages.json')
    clock.mark(('/front', 5), 'detector_node: received')
    first = clock.frames()[('/front', 5)]['detector_node: received']
    clock.mark(('/front', 5), 'detector_node: received')  # the second delivery of the frame
    clock.mark(('/front', 5), 'detector_node: inferred')
    clock.mark(('/left', 5), 'depth_node: received')
    clock.write()
    rows = json.loads((tmp_path / 'stages.json').read_text())
    by_frame = {tuple(r['frame']): r['stages'] for r in rows}
    assert by_frame[('/front', 5)]['detector_node: received'] == first
    assert by_frame[('/front', 5)]['detector_node: inferred'] >= first
    assert list(by_frame[('/left', 5)]) == ['depth_node: received']

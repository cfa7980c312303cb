"""launch/joint.launch.py, checked without launch/launch_ros (not installable here).

1. Its syntax tree: it uses the standard launch/launch_ros API and takes its arguments and nodes from
   jdd_ros.bringup (the description jdd-ros launch also starts from), so the two cannot drift apart.
2. Its behaviour: generate_launch_description() is executed with small recording stand-ins of the five launch
   classes it uses (they only record their keyword arguments), and the nodes it would start are compared with
   bringup.plan and with what jdd-ros launch starts.
A launch_testing test for ROS installations is in test_joint_launch_testing.py (skipped here).
"""

import ast
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from jdd_ros import bringup
from jdd_ros.apps import node_supervisor
from jdd_ros.params import load_params_file

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'joint.launch.py'
PARAMS_FILE = REPO / 'config' / 'params.yaml'


def _tree():
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_launch_file_imports_only_the_standard_launch_api_and_the_shared_description():
    imports = {}
    for node in ast.walk(_tree()):
        if isinstance(node, ast.ImportFrom):
            imports.setdefault(node.module, set()).update(a.name for a in node.names)
    assert imports == {
        'ament_index_python.packages': {'get_package_share_directory'},
        'launch': {'LaunchDescription'},
        'launch.actions': {'DeclareLaunchArgument', 'OpaqueFunction'},
        'launch.substitutions': {'LaunchConfiguration'},
        'launch_ros.actions': {'Node'},
        'jdd_ros': {'bringup'},
        'jdd_ros.params': {'load_params_file'},
    }


def test_launch_file_declares_arguments_and_nodes_from_bringup():
    tree = _tree()
    funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert 'generate_launch_description' in funcs
    source = ast.unparse(tree)
    assert 'for a in bringup.ARGUMENTS' in ast.unparse(funcs['generate_launch_description'])
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    node_calls = [c for c in calls if c.func.id == 'Node']
    assert len(node_calls) == 1
    keywords = {k.arg: ast.unparse(k.value) for k in node_calls[0].keywords}
    assert keywords['package'] == 'bringup.PACKAGE'
    assert keywords['executable'] == 'node.executable'
    assert keywords['parameters'] == 'parameters' and 'parameters = [params_file, node.parameters]' in source
    assert keywords['remappings'] == 'node.remappings'
    assert keywords['namespace'] == 'node.namespace or None'
    assert 'bringup.plan(values, load_params_file(params_file))' in source
    assert 'bringup.parameters_yaml(node.node_parameters)' in source
    assert "get_package_share_directory('jdd_ros') + '/config/params.yaml'" in source


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


@pytest.fixture
def launch_module(monkeypatch, tmp_path):
    """joint.launch.py imported with recording stand-ins for launch, launch_ros and the ament index."""
    share = tmp_path / 'share' / 'jdd_ros'
    (share / 'config').mkdir(parents=True)
    (share / 'config' / 'params.yaml').write_text(PARAMS_FILE.read_text())
    fakes = {
        'launch': {'LaunchDescription': type('LaunchDescription', (_Recorded,), {})},
        'launch.actions': {'DeclareLaunchArgument': type('DeclareLaunchArgument', (_Recorded,), {}),
                           'OpaqueFunction': type('OpaqueFunction', (_Recorded,), {})},
        'launch.substitutions': {'LaunchConfiguration': _LaunchConfiguration},
        'launch_ros': {},
        'launch_ros.actions': {'Node': type('Node', (_Recorded,), {})},
        'ament_index_python.packages': {'get_package_share_directory': lambda pkg: str(tmp_path / 'share' / pkg)},
    }
    for name, attrs in fakes.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location('joint_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(launch_module, **given):
    description = launch_module.generate_launch_description()
    entities = description.args[0]
    declared = [e for e in entities if type(e).__name__ == 'DeclareLaunchArgument']
    opaque = [e for e in entities if type(e).__name__ == 'OpaqueFunction']
    values = {d.args[0]: given.get(d.args[0], d.kwargs['default_value']) for d in declared}
    context = types.SimpleNamespace(launch_configurations=values)
    return declared, opaque[0].kwargs['function'](context)


def test_declared_arguments_are_bringup_arguments(launch_module):
    declared, _ = _run(launch_module, depth_source='sensor')
    assert [d.args[0] for d in declared] == [a.name for a in bringup.ARGUMENTS]
    for d, a in zip(declared, bringup.ARGUMENTS):
        assert d.kwargs['default_value'] == a.default
        assert d.kwargs['description'] == a.description
        assert d.kwargs.get('choices') == (list(a.choices) if a.choices else None)


def test_sensor_depth_starts_detector_and_fusion_with_the_camera_depth_topic(launch_module):
    given = {'depth_source': 'sensor', 'image': '/camera/color/image_raw', 'depth': '/camera/aligned_depth',
             'max_depth': '4', 'use_sim_time': 'true', 'composition': 'false'}
    _, nodes = _run(launch_module, **given)
    assert [n.kwargs['executable'] for n in nodes] == ['detector_node', 'fusion_node']
    fusion = nodes[1].kwargs
    assert fusion['package'] == 'jdd_ros' and fusion['name'] == 'fusion_node'
    assert Path(fusion['parameters'][0]).name == 'params.yaml'
    assert fusion['parameters'][1] == {'depth_source': 'sensor', 'max_depth': 4.0, 'use_sim_time': True}
    assert ('depth', '/camera/aligned_depth') in fusion['remappings']
    assert ('image', '/camera/color/image_raw') in fusion['remappings']


def test_model_depth_starts_three_nodes(launch_module):
    _, nodes = _run(launch_module, depth_checkpoint='/models/depth.pt', device='cuda', composition='false')
    by_name = {n.kwargs['name']: n.kwargs for n in nodes}
    assert list(by_name) == ['depth_node', 'detector_node', 'fusion_node']
    assert by_name['depth_node']['parameters'][1] == {'checkpoint': '/models/depth.pt', 'device': 'cuda',
                                                     'use_sim_time': False}
    assert by_name['detector_node']['parameters'][1]['device'] == 'cuda'
    assert all(('depth', '/camera/depth/image_raw') not in n['remappings'] for n in by_name.values())


@pytest.mark.parametrize('depth_source, nodes', [('model', ['fusion_node', 'detector_node', 'depth_node']),
                                                  ('sensor', ['fusion_node', 'detector_node'])])
def test_by_default_the_nodes_run_in_one_pipeline_process_with_their_own_parameters(launch_module, depth_source,
                                                                                       nodes):
    import yaml

    given = {'depth_source': depth_source, 'depth_checkpoint': '/models/depth.pt', 'max_depth': '3',
             'namespace': 'robot1', 'image': '/cam/image'}
    _, launched = _run(launch_module, **given)
    assert len(launched) == 1
    pipeline = launched[0].kwargs
    assert pipeline['executable'] == 'pipeline' and pipeline['name'] is None  # a name would rename every node
    assert pipeline['namespace'] == 'robot1'
    assert ('--without-depth' in pipeline['arguments']) == (depth_source == 'sensor')
    assert ('image', '/cam/image') in pipeline['remappings']
    sections = yaml.safe_load(Path(pipeline['parameters'][1]).read_text())
    assert sorted(sections) == sorted(f'/**/{n}' for n in nodes)  # per node, in any namespace
    assert sections['/**/fusion_node']['ros__parameters']['max_depth'] == 3.0
    assert sections['/**/detector_node']['ros__parameters']['max_depth'] == 3.0  # its mask_then_detect threshold
    if depth_source == 'model':
        assert sections['/**/depth_node']['ros__parameters'] == {'checkpoint': '/models/depth.pt',
                                                                'use_sim_time': False}


def test_model_depth_without_a_model_is_refused_before_anything_starts(launch_module):
    with pytest.raises(ValueError, match='depth_source:=model needs a depth model'):
        _run(launch_module)


def test_launch_file_and_launcher_start_the_same_nodes(launch_module):
    given = {'depth_source': 'sensor', 'image': '/cam/image', 'camera_info': '/cam/info', 'max_depth': '2.5',
             'filter_mode': 'mask_then_detect', 'cfg': '/m/a.cfg', 'weights': '/m/a.weights', 'names': '/m/a.names',
             'composition': 'false'}
    _, nodes = _run(launch_module, **given)
    commands = node_supervisor.build_commands([f'{k}:={v}' for k, v in given.items()], str(PARAMS_FILE))
    assert [name for name, _ in commands] == [n.kwargs['name'] for n in nodes]
    for (_, cmd), node in zip(commands, nodes):
        pairs = [cmd[i + 1] for i, a in enumerate(cmd) if a == '-p']
        remaps = [cmd[i + 1] for i, a in enumerate(cmd) if a == '-r' and not cmd[i + 1].startswith('__')]
        assert sorted(p.split(':=')[0] for p in pairs) == sorted(node.kwargs['parameters'][1])
        assert remaps == [f'{s}:={d}' for s, d in node.kwargs['remappings']]


def test_plan_matches_the_parameter_file_nodes():
    nodes = bringup.plan({'depth_source': 'sensor', 'composition': 'false'}, load_params_file(PARAMS_FILE))
    assert {n.name for n in nodes} <= set(load_params_file(PARAMS_FILE))


def test_launch_file_and_launcher_start_the_same_pipeline(launch_module):
    import yaml

    given = {'depth_checkpoint': '/m/depth.pt', 'image': '/cam/image', 'max_depth': '2.5', 'namespace': 'r1'}
    _, nodes = _run(launch_module, **given)
    [(name, cmd)] = node_supervisor.build_commands([f'{k}:={v}' for k, v in given.items()], str(PARAMS_FILE))
    assert name == 'pipeline' and Path(cmd[0]).name == nodes[0].kwargs['executable']
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == '--params-file']
    launched = Path(nodes[0].kwargs['parameters'][1])
    assert yaml.safe_load(Path(files[1]).read_text()) == yaml.safe_load(launched.read_text())
    remaps = [cmd[i + 1] for i, a in enumerate(cmd) if a == '-r' and not cmd[i + 1].startswith('__')]
    assert remaps == [f'{s}:={d}' for s, d in nodes[0].kwargs['remappings']]
    assert '__ns:=/r1' in cmd


@pytest.mark.parametrize('composition', ['true', 'false'])
def test_ground_depth_starts_no_depth_node_and_tells_the_fusion_node(launch_module, composition):
    import yaml

    given = {'depth_source': 'ground', 'camera_height': '1.2', 'camera_pitch': '20', 'camera_info': '/cam/info',
             'composition': composition}
    _, launched = _run(launch_module, **given)
    if composition == 'false':
        by_name = {n.kwargs['name']: n.kwargs for n in launched}
        assert list(by_name) == ['detector_node', 'fusion_node']
        fusion = by_name['fusion_node']['parameters'][1]
        assert ('camera_info', '/cam/info') in by_name['fusion_node']['remappings']
    else:
        [pipeline] = [n.kwargs for n in launched]
        assert '--without-depth' in pipeline['arguments']
        sections = yaml.safe_load(Path(pipeline['parameters'][1]).read_text())
        assert sorted(sections) == ['/**/detector_node', '/**/fusion_node']
        fusion = sections['/**/fusion_node']['ros__parameters']
    assert (fusion['depth_source'], fusion['camera_height'], fusion['camera_pitch']) == ('ground', 1.2, 20.0)


def test_ground_depth_without_the_camera_height_is_refused_before_anything_starts(launch_module, tmp_path):
    with pytest.raises(ValueError, match="depth_source:=ground needs the camera's height above the floor"):
        _run(launch_module, depth_source='ground')
    with pytest.raises(ValueError, match='no depth image to mask'):
        _run(launch_module, depth_source='ground', camera_height='1.2', filter_mode='mask_then_detect')
    params = tmp_path / 'params.yaml'  # the height from the parameter file is enough
    params.write_text('fusion_node:\n  ros__parameters:\n    camera_height: 0.9\n')
    nodes = bringup.plan({'depth_source': 'ground', 'composition': 'false'}, load_params_file(params))
    assert [n.name for n in nodes] == ['detector_node', 'fusion_node']


def test_jdd_ros_launch_refuses_ground_without_height_in_one_line(capsys):
    from jdd_ros.cli import main

    assert main(['launch', 'depth_source:=ground', '--dry-run']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'camera_height:=METRES' in err
    assert main(['launch', 'depth_source:=ground', 'camera_height:=1.2', '--dry-run']) == 0
    out = capsys.readouterr().out
    assert out.startswith('pipeline:') and '--without-depth' in out

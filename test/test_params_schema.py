"""The parameter schema: what ros2 param set, the launch file and the offline tools accept or refuse."""

import math

import pytest

from jdd_ros import params


def test_every_node_has_described_parameters():
    for node, specs in params.SCHEMA.items():
        names = [s.name for s in specs]
        assert len(names) == len(set(names)), f'{node} declares a parameter twice'
        for s in specs:
            assert s.description.endswith('.'), f'{node}.{s.name} needs a sentence of description'
            assert s.validate(s.default) is None, f'{node}.{s.name} default {s.default!r} is refused by its own rules'


@pytest.mark.parametrize('value, reason', [
    (-1.0, '>= 0.0'),
    (math.nan, 'finite'),
    (math.inf, 'finite'),
    ('far', 'type float'),
    (True, 'type float'),
])
def test_max_depth_refusals_name_the_problem(value, reason):
    assert reason in params.spec('fusion_node', 'max_depth').validate(value)


def test_integer_accepted_for_float_and_coerced():
    s = params.spec('fusion_node', 'max_depth')
    assert s.validate(4) is None and s.coerce(4) == 4.0 and isinstance(s.coerce(4), float)


def test_choices_and_custom_checks():
    assert 'center, median, percentile' in params.spec('fusion_node', 'depth_statistic').validate('mean')
    assert params.spec('detector_node', 'device').validate('cuda:1') is None
    assert 'device' in params.spec('detector_node', 'device').validate('gpu')
    assert 'multiple of 32' in params.spec('detector_node', 'input_size').validate(400)
    assert params.spec('detector_node', 'classes').coerce('person, chair') == ['person', 'chair']


def test_validate_values_reports_every_problem():
    with pytest.raises(ValueError) as err:
        params.validate_values('fusion_node', {'max_depth': -2.0, 'no_such': 1, 'box_fraction': 0.3})
    text = str(err.value)
    assert 'max_depth must be >= 0.0' in text and "no parameter 'no_such'" in text


def test_load_params_file(tmp_path):
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    device: cpu\n'
                 '/robot/fusion_node:\n  ros__parameters:\n    max_depth: 4\n    depth_statistic: percentile\n')
    loaded = params.load_params_file(f)
    assert loaded['fusion_node'] == {'max_depth': 4.0, 'depth_statistic': 'percentile'}
    assert loaded['detector_node'] == {'device': 'cpu'} and loaded['depth_node'] == {'device': 'cpu'}
    f.write_text('fusion_node:\n  ros__parameters:\n    max_depth: -1\n')
    with pytest.raises(ValueError, match='max_depth must be >= 0.0'):
        params.load_params_file(f)

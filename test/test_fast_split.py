"""``make test-fast`` cannot silently take in a test that starts a process: test/conftest.py's markers and guard, run
on sample tests by pytest itself (pytester, in this process)."""

from pathlib import Path

TEST_DIR = Path(__file__).resolve().parent
SAMPLE = '''
import importlib
import subprocess

from harness import NodeProcess


def _start_true():
    subprocess.run(['true'], check=True)


def test_pure_unit():
    assert sorted([3, 1, 2]) == [1, 2, 3]


def test_through_a_helper_of_its_module():
    _start_true()


def test_with_the_harness():
    assert NodeProcess


def test_with_a_node_fixture(domain_id):
    assert domain_id


def test_runs_a_network():
    import torch  # noqa: F401


def test_hides_its_process():
    importlib.import_module('sub' + 'process').run(['true'], check=True)


def test_hides_its_dds_participant():
    importlib.import_module('rcl' + 'py').init(domain_id=0)
'''


def test_fast_runs_pure_units_and_fails_a_hidden_process_or_dds_participant(pytester):
    pytester.syspathinsert(TEST_DIR)  # the harness
    pytester.makeconftest((TEST_DIR / 'conftest.py').read_text())
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest_inprocess('-m', 'not process and not model and not slow', '-p', 'no:cacheprovider')
    result.assert_outcomes(passed=1, failed=2, deselected=4)
    result.stdout.fnmatch_lines(['*test_hides_its_process starts a process (subprocess)*not marked*',
                                 '*test_hides_its_dds_participant joins DDS (an rclpy context)*not marked*'])

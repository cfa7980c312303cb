"""The README is the contract with a new user: its parameter tables are the schema's, its commands exist."""

import re
import subprocess
import sys

from harness import REPO


def test_readme_parameter_tables_match_the_schema():
    sys.path.insert(0, str(REPO / 'tools'))
    import params_table

    text = (REPO / 'README.md').read_text()
    assert params_table.readme_with_tables(text) == text, 'run: python tools/params_table.py --write-readme'


def test_readme_states_the_two_setup_commands_that_ci_runs():
    text = (REPO / 'README.md').read_text()
    assert 'make setup' in text and 'make test' in text
    ci = (REPO / '.ci' / 'run').read_text()
    assert re.search(r'^make setup$', ci, re.M) and re.search(r'^make test$', ci, re.M)


def test_every_jdd_ros_subcommand_in_the_readme_exists():
    from jdd_ros.cli import SUBCOMMANDS

    used = set(re.findall(r'jdd-ros ([a-z][a-z-]+)', (REPO / 'README.md').read_text()))
    assert used <= set(SUBCOMMANDS), used - set(SUBCOMMANDS)
    out = subprocess.run([sys.executable, '-m', 'jdd_ros.cli', '--help'], capture_output=True, text=True, check=True)
    for name in SUBCOMMANDS:
        assert name in out.stdout

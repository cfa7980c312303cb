"""Lay the package out in a prefix (the venv) as ``colcon build --symlink-install`` installs it.

    .venv/bin/python tools/ament_layout.py .venv        # make setup runs it; idempotent

What colcon installs for an ament_python package, read from setup.py itself (its ``data_files`` and its
``console_scripts``), so the two cannot drift apart:

* ``share/<dest>/<file>`` for every ``data_files`` entry: real directories holding one link per file
  (``share/jdd_ros/launch/joint.launch.py`` -> the checkout's file). ``ros2 launch`` does not search through a
  symlinked directory, and a per-file link keeps an edited launch file or params.yaml in force without a reinstall;
* the package marker ``share/ament_index/resource_index/packages/jdd_ros`` (a data_files entry as well);
* ``lib/jdd_ros/<script>`` for every console script (setup.cfg's ``install_scripts``/``script_dir``), linked to the
  script pip wrote into ``bin/``: ``ros2 run jdd_ros fusion_node`` and launch_ros' ``Node`` look there.

Links of an earlier layout that are not part of this one (a directory link, a removed file) are removed; nothing else
in the prefix is touched. Finding the prefix is the job of AMENT_PREFIX_PATH: see ``ament_prefix_pth``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PTH_NAME = 'jdd_ros_ament_prefix.pth'
# One line, run by every python of the venv at start-up (the .pth mechanism): the venv joins AMENT_PREFIX_PATH, as
# sourcing a colcon workspace's setup.bash adds the workspace, so that the venv's ros2 / nodes / launch files find
# the packages installed in it with nothing exported. Another prefix the user has set stays, after the venv.
PTH_LINE = ("import os, sys; _p = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]; "
            "sys.prefix in _p or os.environ.__setitem__('AMENT_PREFIX_PATH', os.pathsep.join([sys.prefix] + _p))\n")
SIGNALS_PTH_NAME = '00_jdd_ros_node_signals.pth'  # sorts first: site runs .pth files in name order
# One line, run by every python of the venv at start-up, acting only in the package's executables (a script named
# like one, run directly, by ros2 run or by a launch file): SIGINT and SIGTERM are blocked (held pending, not lost)
# until the executable's entry point has installed its handler and unblocks them (jdd_ros/nodes/entry.py, jdd_ros.cli
# main). A Ctrl-C during the interpreter's own start-up (its site import, the ROS wheels' re-exec of the interpreter,
# which keeps the signal mask) then stops it in one line instead of Python's 'Fatal Python error: init_import_site'.
# The builtin _signal module: importing signal (and enum) here would slow every python of the venv.
EXECUTABLES = ('depth_node', 'detector_node', 'fusion_node', 'pipeline', 'jdd-ros')
SIGNALS_PTH_LINE = ("import sys, _signal; sys.orig_argv[1:] and sys.orig_argv[1].rsplit('/', 1)[-1] in "
                    f"{EXECUTABLES!r} and _signal.pthread_sigmask(_signal.SIG_BLOCK, "
                    "(_signal.SIGINT, _signal.SIGTERM))\n")


def setup_description(repo: Path = REPO) -> tuple[list[tuple[str, list[str]]], list[str], str]:
    """setup.py's data_files, console script names and package name (setup.py is read, not run to install)."""
    from distutils.core import run_setup

    cwd = os.getcwd()
    os.chdir(repo)  # setup.py's globs are relative to the checkout
    try:
        dist = run_setup(str(repo / 'setup.py'), stop_after='init')
    finally:
        os.chdir(cwd)
    scripts = [entry.split('=', 1)[0].strip() for entry in (dist.entry_points or {}).get('console_scripts', [])]
    return [(dest, list(files)) for dest, files in dist.data_files], scripts, dist.get_name()


def planned_links(prefix: Path, repo: Path = REPO) -> dict[Path, Path]:
    """Every link of the layout: path in the prefix -> what it points to."""
    data_files, scripts, package = setup_description(repo)
    links = {prefix / dest / Path(f).name: (repo / f).resolve() for dest, files in data_files for f in files}
    for name in scripts:
        links[prefix / 'lib' / package / name] = prefix / 'bin' / name
    return links


def _remove_stale(root: Path, keep: set[Path]) -> list[Path]:
    """Links under ``root`` (a package's own directory) that the layout does not have; a link in place of a
    directory is removed too."""
    if root.is_symlink():
        root.unlink()
        return [root]
    removed = []
    for top, dirs, files in os.walk(root, topdown=False):  # does not descend into directory links
        for name in dirs + files:
            path = Path(top, name)
            if path.is_symlink() and path not in keep:
                path.unlink()
                removed.append(path)
            elif not path.is_symlink() and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return removed


def install(prefix: Path, repo: Path = REPO) -> list[str]:
    """Create the layout in ``prefix``; returns what it changed, one line each."""
    prefix = prefix.resolve()
    links = planned_links(prefix, repo)
    _, _, package = setup_description(repo)
    changes = [f'removed stale {p}' for root in (prefix / 'share' / package, prefix / 'lib' / package)
               for p in _remove_stale(root, set(links))]
    for path, target in sorted(links.items()):
        if not target.exists():
            raise FileNotFoundError(f'{target} (for {path}) does not exist: run pip install -e . first')
        for parent in reversed(path.parents):  # a directory link of an older layout in the way
            if parent.is_symlink() and str(parent).startswith(str(prefix)):
                parent.unlink()
                changes.append(f'removed directory link {parent}')
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() and Path(os.readlink(path)) == target:
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
        path.symlink_to(target)
        changes.append(f'{path} -> {target}')
    for name, line, why in ((PTH_NAME, PTH_LINE, 'the venv joins AMENT_PREFIX_PATH for its own processes'),
                            (SIGNALS_PTH_NAME, SIGNALS_PTH_LINE, 'a Ctrl-C while a jdd_ros executable starts waits for '
                                                                  'its quiet handler')):
        pth = _site_packages(prefix) / name
        if not pth.is_file() or pth.read_text() != line:
            pth.write_text(line)
            changes.append(f'{pth}: {why}')
    return changes


def _site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob('lib/python3*/site-packages'))
    if not found:
        raise FileNotFoundError(f'{prefix} has no lib/python3*/site-packages: not a venv')
    return found[0]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        changes = install(Path(argv[0]))
    except FileNotFoundError as exc:
        print(f'ament_layout: {exc}', file=sys.stderr)
        return 1
    for line in changes:
        print(line)
    print(f'jdd_ros laid out in {Path(argv[0]).resolve()} as colcon installs it '
          f'({len(planned_links(Path(argv[0]).resolve()))} links, {len(changes)} changed)')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

"""``jdd-ros launch``: start the nodes of ``joint.launch.py`` without a ROS installation (no ``ros2 launch`` here).

The nodes, parameters and remappings come from ``jdd_ros.bringup`` (the launch file reads the same description);
each node is this environment's executable started with ``--ros-args --params-file ... -p ... -r ...``. Their logs
are forwarded line by line with the node name in front. Ctrl-C / SIGTERM, or one node exiting, stops all of them:
SIGINT first (rclpy shuts down cleanly), then SIGTERM, then SIGKILL for a process that does not stop. Children run
in their own process groups and get SIGTERM from the kernel if the launcher itself is killed, so none is left behind.

DDS discovery settings (``ROS_AUTOMATIC_DISCOVERY_RANGE``, ``ROS_DOMAIN_ID``) are the user's, passed through
unchanged.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from jdd_ros import bringup
from jdd_ros.core.stop_flag import StopFlag
from jdd_ros.params import load_params_file

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C and the normal stop path still stop the children


def _ros_value(value: object) -> str:
    """A parameter value as ``-p`` text; strings are YAML-quoted so paths with ':' or numbers stay strings."""
    import yaml

    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(yaml.safe_dump(str(v), default_style="'").strip() for v in value) + ']'
    if isinstance(value, str):
        return yaml.safe_dump(value, default_style="'").strip()
    return repr(value)


def executable_path(name: str) -> str:
    """A node executable of this environment (the venv's bin/ first), or FileNotFoundError saying what to run."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"node executable '{name}' not found in {local.parent} or on PATH: run 'make setup'")


def node_command(node: bringup.NodeLaunch, params_file: str | Path, log_level: str = 'info') -> list[str]:
    """The command line of one process; a composed one gets its nodes' parameters as a parameter file."""
    cmd = [executable_path(node.executable), *node.arguments, '--ros-args', '--params-file', str(params_file)]
    if node.composed:
        cmd += ['--params-file', str(_node_parameters_file(node))]
    else:
        cmd += ['-r', f'__node:={node.name}']
        for name, value in node.parameters.items():
            cmd += ['-p', f'{name}:={_ros_value(value)}']
    if node.namespace:
        cmd += ['-r', f'__ns:=/{node.namespace.strip("/")}']
    for src, dst in node.remappings:
        cmd += ['-r', f'{src}:={dst}']
    cmd += ['--log-level', log_level]
    return cmd


def _node_parameters_file(node: bringup.NodeLaunch) -> Path:
    """The per-node parameters of a composed process in a file that lives as long as the launcher."""
    fd, name = tempfile.mkstemp(prefix=f'jdd_ros_{node.name}_', suffix='.yaml')
    with os.fdopen(fd, 'w') as f:
        f.write(bringup.parameters_yaml(node.node_parameters))
    atexit.register(lambda: Path(name).unlink(missing_ok=True))
    return Path(name)


@dataclass
class Child:
    name: str
    cmd: list[str]
    proc: subprocess.Popen | None = None
    tail: deque = field(default_factory=lambda: deque(maxlen=20))
    reader: threading.Thread | None = None


def describe_status(code: int) -> str:
    if code < 0:
        try:
            return f'killed by {signal.Signals(-code).name}'
        except ValueError:
            return f'killed by signal {-code}'
    return f'exit status {code}'


class Supervisor:
    """Runs named commands, forwards their output, and stops all of them when asked or when one exits."""

    def __init__(self, commands: Sequence[tuple[str, list[str]]], out: TextIO | None = None,
                 env: dict[str, str] | None = None, stop_timeout: float = 10.0):
        self.children = [Child(name, list(cmd)) for name, cmd in commands]
        self.out = out or sys.stdout
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault('PYTHONUNBUFFERED', '1')
        self.stop_timeout = stop_timeout
        self._lock = threading.Lock()
        self._stop = StopFlag()  # request_stop runs in signal handlers: no lock (core.stop_flag)
        self._stop_reason = ''
        self._stopped = False
        self._width = max((len(c.name) for c in self.children), default=0)

    def say(self, text: str) -> None:
        self._emit('launch', text)

    def _emit(self, who: str, line: str) -> None:
        with self._lock:
            self.out.write(f'[{who.ljust(self._width)}] {line}\n')
            self.out.flush()

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    def _forward(self, child: Child) -> None:
        assert child.proc is not None and child.proc.stdout is not None
        for raw in child.proc.stdout:
            line = raw.rstrip('\n')
            child.tail.append(line)
            self._emit(child.name, line)

    def start(self) -> None:
        # Fork every child before any reader thread exists (preexec_fn is only safe without other threads).
        for child in self.children:
            child.proc = subprocess.Popen(
                child.cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, bufsize=1, errors='replace', start_new_session=True, preexec_fn=_die_with_parent)
            self.say(f'started {child.name} (pid {child.proc.pid})')
        for child in self.children:
            child.reader = threading.Thread(target=self._forward, args=(child,), daemon=True)
            child.reader.start()

    def wait(self) -> int:
        """Block until a stop is requested or a child exits; stop everything; return the launcher's exit status."""
        failed: Child | None = None
        while not self._stop.wait(0.1):
            failed = next((c for c in self.children if c.proc is not None and c.proc.poll() is not None), None)
            if failed is not None:
                break
        if failed is not None:
            code = failed.proc.returncode
            if failed.reader is not None:
                failed.reader.join(timeout=2.0)  # let its last lines (the reason) arrive first
            reason = self._reason(failed)
            self.say(f'{failed.name} exited ({describe_status(code)})' + (f': {reason}' if reason else '')
                     + '; stopping the other nodes')
        else:
            self.say(f'{self._stop_reason}: stopping all nodes')
        self.stop()
        if failed is not None:
            code = failed.proc.returncode
            return code if code > 0 else (128 - code if code < 0 else 1)
        bad = [c for c in self.children if c.proc.returncode not in (0, -signal.SIGINT, -signal.SIGTERM)]
        return 1 if bad else 0

    @staticmethod
    def _reason(child: Child) -> str:
        lines = [ln for ln in child.tail if ln.strip()]
        important = [ln for ln in lines if any(k in ln for k in ('FATAL', 'ERROR', 'Error', 'error'))]
        return (important or lines or [''])[-1].strip()

    def _signal_all(self, sig: int) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                try:
                    os.killpg(child.proc.pid, sig)
                except ProcessLookupError:
                    pass

    def _wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def stop(self) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to each child's process group; returns when all have exited."""
        if self._stopped:
            return
        for sig, timeout in ((signal.SIGINT, self.stop_timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            alive = [c.name for c in self.children if c.proc is not None and c.proc.poll() is None]
            if not alive:
                break
            if sig != signal.SIGINT:
                self.say(f"{', '.join(alive)} did not stop: sending {signal.Signals(sig).name}")
            self._signal_all(sig)
            if self._wait_all(timeout):
                break
        for child in self.children:
            if child.proc is None:
                continue
            try:  # a grandchild that outlived its parent still belongs to the child's process group
                os.killpg(child.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if child.reader is not None:
                child.reader.join(timeout=2.0)
            if child.proc.returncode is not None:
                self.say(f'{child.name} stopped ({describe_status(child.proc.returncode)})')
        self._stopped = all(c.proc is None or c.proc.returncode is not None for c in self.children)


def show_args() -> str:
    lines = ['Arguments (pass arguments as NAME:=VALUE):']
    for a in bringup.ARGUMENTS:
        lines.append(f"    '{a.name}':")
        lines.append(f'        {a.description}')
        if a.choices:
            lines.append(f"        Valid choices are: {', '.join(a.choices)}")
        lines.append(f"        (default: '{a.default}')")
    return '\n'.join(lines)


def build_commands(assignments: Sequence[str], params: str | None = None) -> list[tuple[str, list[str]]]:
    """The (node name, command) pairs for these arguments; ValueError/FileNotFoundError saying what is wrong."""
    values = bringup.parse_assignments(assignments)
    if params and values.get('params_file') and params != values['params_file']:
        raise ValueError(f"--params {params} and params_file:={values['params_file']} disagree: give one")
    params_file = Path(params or values.get('params_file') or bringup.default_params_file())
    if not params_file.is_file():
        raise FileNotFoundError(f'parameter file {params_file} not found')
    values['params_file'] = str(params_file)
    nodes = bringup.plan(values, load_params_file(params_file))
    level = bringup.with_defaults(values)['log_level']
    return [(n.name, node_command(n, params_file.resolve(), level)) for n in nodes]

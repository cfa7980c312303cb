"""``jdd-ros demo``: the real pipeline on a sample that ships with jdd_ros, in one command (``make demo``).

It starts the nodes as ``jdd-ros launch depth_source:=sensor`` does (real processes, real DDS, on a domain of their
own with discovery kept on this machine and logs in a temporary directory), plays the TUM RGB-D desk frame and its
mirror image into them as a camera would, prints each object with its distance, sets ``max_depth`` on
/fusion_node through its parameter service exactly as ``ros2 param set`` does, shows the next frames change, writes
the annotated images, and stops every node it started (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jdd_ros.apps import demo
from jdd_ros.apps.node_supervisor import Supervisor, build_commands, node_command
from jdd_ros.bringup import default_params_file
from jdd_ros.core.stop_flag import StopFlag

if TYPE_CHECKING:
    from jdd_ros.io.frames import RGBDFrame
    from jdd_ros.ros.client_node import ClientNode
    from jdd_ros.ros.demo_driver import DemoDriver

READY_TIMEOUT_S = 180.0  # model loading on a busy 2-core machine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--max-depth', type=float, default=demo.DEFAULT_MAX_DEPTH, metavar='M',
                        help=f'the max_depth set on /fusion_node half-way (default {demo.DEFAULT_MAX_DEPTH:g} m: the '
                             'far chair, 2.2 m away, disappears)')
    parser.add_argument('--loops', type=int, default=2, metavar='N',
                        help='times the two sample frames are played before and after the change (default 2)')
    parser.add_argument('--out', default='out/demo', metavar='DIR',
                        help='where the annotated images are written (default out/demo)')
    parser.add_argument('--domain-id', type=int, default=None, metavar='ID',
                        help='ROS_DOMAIN_ID of the demo (default: a free one picked at random in 100-229)')
    parser.add_argument('--write-bag', metavar='PATH',
                        help='only write the sample desk frame as a ROS 2 bag (PATH.mcap or PATH.db3 names the '
                             'storage; 4 s at 10 Hz on /camera/image_raw, /camera/depth/image_raw, /camera/camera_info)'
                             ' and exit')
    parser.add_argument('--no-ground', action='store_true',
                        help='only the sensor-depth column (no second fusion node with distances from the floor)')
    parser.add_argument('--log-level', default='warn', choices=('debug', 'info', 'warn', 'error'),
                        help="the nodes' log level (their output goes to the log directory; default warn)")
    parser.add_argument('--keep-logs', action='store_true', help="keep the nodes' logs (kept anyway on a failure)")


class _Run:
    """One demo run: the nodes, the driver, what has been printed so far."""

    def __init__(self, args: argparse.Namespace, env: demo.DemoEnvironment, stop: StopFlag,
                 columns: list[demo.Column]):
        self.args, self.env, self.stop = args, env, stop
        self.columns = columns
        self.total = 2 * args.loops * len(demo.sample_frames())
        self.played = 0
        self.shown: dict[str, demo.FrameResult] = {}  # the last table printed, per sample image
        self.written: list[Path] = []

    def play_phase(self, driver: DemoDriver, frames: list[RGBDFrame], max_depth: float, image_name: str) -> None:
        """Every frame of the phase, printed; the first image's annotated frame written to ``image_name``. Each image
        is played ``loops`` times in a row, as a still camera sends it, and the next image after a cut: alternating the
        image and its mirror would make fusion_node's tracker see objects jump (and report a time to contact)."""
        for k, frame in enumerate(frames):
            if self.played:
                driver.cut()  # another image: no track carries over from the last one
            for loop in range(self.args.loops):
                ns, got = driver.play(frame)
                self.played += 1
                result = demo.FrameResult(self.played, frame.name, max_depth,
                                          {c.label: got[c.topic] for c in self.columns})
                self._print(result)
                if k == 0 and loop == self.args.loops - 1:
                    self._write_annotated(driver, ns, image_name)

    def _print(self, result: demo.FrameResult) -> None:
        previous = self.shown.get(result.frame_name)
        heading = demo.frame_heading(result, self.total)
        if previous is not None and demo.signature(previous, self.columns) == demo.signature(result, self.columns):
            print(f'{heading} the same {len(result.columns[self.columns[0].label])} object(s) at the same distances')
            return
        print(heading)
        print('\n'.join(demo.table(result, self.columns)))
        if not self.shown:
            for c in self.columns:
                if c.note:
                    print(textwrap.fill(f'({c.note})', width=116, initial_indent='    ', subsequent_indent='     '))
        if previous is not None:
            for column in self.columns:
                line = demo.gone_line(previous, result, column)
                if line:
                    print(line)
        self.shown[result.frame_name] = result
        sys.stdout.flush()

    def _write_annotated(self, driver: DemoDriver, ns: int, name: str) -> None:
        import cv2

        rgb = driver.annotated_rgb(ns)
        if rgb is None:
            print('  (no annotated image came for this frame)')
            return
        path = Path(self.args.out) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.written.append(path)

    def drive(self, client: ClientNode) -> int:
        from jdd_ros.ros.demo_driver import DemoDriver

        frames = demo.sample_frames()
        driver = DemoDriver(client, [c.topic for c in self.columns], demo.IMAGE_TOPIC, demo.DEPTH_TOPIC,
                            demo.CAMERA_INFO_TOPIC, self.stop)
        began = time.monotonic()
        expected = {demo.IMAGE_TOPIC: {'detector_node'}, demo.DEPTH_TOPIC: {'fusion_node'},
                    '/detections': {c.node.lstrip('/') for c in self.columns}}
        driver.wait_ready(expected, READY_TIMEOUT_S)
        print(f'nodes ready after {time.monotonic() - began:.1f} s (models loaded); playing {self.total} frames\n')
        self.play_phase(driver, frames, float(driver.get_parameter(demo.SENSOR_COLUMN.node, 'max_depth')),
                        'demo_before.png')
        if not self._set_max_depth(driver):
            return 1
        self.play_phase(driver, frames, self.args.max_depth, 'demo_after.png')
        if driver.first_frame_sends > 1:
            print(f'(the first frame was sent {driver.first_frame_sends} times: a node had not yet matched the other '
                  "nodes' outputs when it was sent)")
        if driver.lost:
            print(f'({driver.lost} frame(s) had no answer in time and were sent again)')
        return 0


    def _set_max_depth(self, driver: DemoDriver) -> bool:
        """``ros2 param set NODE max_depth M`` on every column's fusion node; False when one refused it."""
        value = f'{self.args.max_depth:g}'
        print()
        for column in self.columns:
            print(f'$ ros2 param set {column.node} max_depth {value}'
                  f'      # done here as jdd-ros param set does it: {column.node}/set_parameters')
            line, ok = driver.set_parameter(column.node, 'max_depth', value)
            print(line)
            if not ok:
                return False
        print()
        return True


def _plan(with_ground: bool, log_level: str) -> tuple[list[tuple[str, list[str]]], list[demo.Column], list[str]]:
    """The processes to start, the columns to print and the lines that say what they are."""
    commands = build_commands(demo.launch_assignments(log_level))
    columns = [demo.SENSOR_COLUMN]
    notes = [f"  started as: jdd-ros launch {' '.join(demo.launch_assignments(log_level))}"]
    if with_ground and demo.ground_supported():
        try:
            height, pitch, roll = demo.calibrate_ground(demo.sample_frames()[0])
        except ValueError as exc:  # the floor fit's NoFloorFound
            notes.append(f'  (no floor-geometry column: {exc})')
        else:
            node = demo.ground_node(height, pitch, roll)
            commands.append((node.name, node_command(node, default_params_file().resolve(), log_level)))
            columns.append(demo.GROUND_COLUMN)
            notes.append(f'  beside it {node.name}: depth_source ground, camera_height {height:g} m, camera_pitch '
                         f"{pitch:g}, camera_roll {roll:g} deg (the floor of the sample's depth frame, as jdd-ros "
                         'calibrate-ground finds it)')
    return commands, columns, notes


def _start_message(env: demo.DemoEnvironment, commands: list, notes: list[str]) -> None:
    print('jdd-ros demo: the real nodes on the TUM RGB-D desk frame and its mirror image')
    print('\n'.join(notes))
    print(f"  processes: {', '.join(name for name, _ in commands)}; ROS_DOMAIN_ID={env.domain_id}, "
          f'ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, logs in {env.workdir}')
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    if args.write_bag:
        from rosbags.rosbag2 import WriterError

        try:
            print(f'sample bag written: {demo.write_sample_bag(args.write_bag)}')
        except (OSError, ValueError, WriterError) as exc:
            print(f'jdd-ros demo: cannot write {args.write_bag}: {exc}', file=sys.stderr)
            return 2
        return 0
    if args.loops < 1:
        print('jdd-ros demo: --loops must be >= 1', file=sys.stderr)
        return 2
    env = demo.DemoEnvironment.create(args.domain_id)
    os.environ.update(env.variables())  # the demo's own DDS participant: same domain, same discovery range
    stop = StopFlag()  # set by the signal handlers: no lock (core.stop_flag)
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    began = time.monotonic()
    try:
        commands, columns, notes = _plan(not args.no_ground, args.log_level)
        _start_message(env, commands, notes)
        code = _run_nodes(args, env, stop, commands, columns)
    except (ValueError, FileNotFoundError) as exc:
        print(f'jdd-ros demo: {exc}', file=sys.stderr)
        code = 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f'demo finished in {time.monotonic() - began:.1f} s (exit status {code})')
    if code == 0 and not args.keep_logs:
        shutil.rmtree(env.workdir, ignore_errors=True)
    return code


def _run_nodes(args: argparse.Namespace, env: demo.DemoEnvironment, stop: StopFlag, commands: list,
               columns: list[demo.Column]) -> int:
    """Start the nodes, drive the demo, stop the nodes; the exit status."""
    from jdd_ros.ros.client_node import ClientNode
    from jdd_ros.ros.demo_driver import Interrupted

    log = open(env.workdir / 'nodes.log', 'w')  # noqa: SIM115 - closed below, after the supervisor stopped
    supervisor = Supervisor(commands, out=log, env=env.child_env())
    ended = threading.Event()
    node_status: list[int] = []

    def watch() -> None:
        node_status.append(supervisor.wait())
        ended.set()
        stop.set()

    run_ = _Run(args, env, stop, columns)
    code = 1
    watcher = threading.Thread(target=watch, name='demo_supervisor', daemon=True)
    try:
        supervisor.start()
        watcher.start()
        with ClientNode('_jdd_ros_demo', large_messages=True, domain_id=env.domain_id) as client:
            code = run_.drive(client)
    except Interrupted:
        code = 130 if not ended.is_set() else 1
    except TimeoutError as exc:
        print(f'jdd-ros demo: {exc}', file=sys.stderr)
    finally:
        supervisor.request_stop('demo finished' if code == 0 else 'demo stopped')
        if watcher.is_alive():
            watcher.join()  # its wait() stops every node (SIGINT, then SIGTERM, then SIGKILL) and returns
        supervisor.stop()  # a no-op once stopped; stops them when the watcher never started
        log.close()
    if ended.is_set() and code != 130 and any(c.proc.returncode not in (0, -2, -15) for c in supervisor.children):
        print(f'jdd-ros demo: a node ended early; its log: {env.workdir / "nodes.log"}', file=sys.stderr)
        print(''.join(open(env.workdir / 'nodes.log').readlines()[-15:]), file=sys.stderr)
        code = code or 1
    for path in run_.written:
        print(f'annotated image written: {path}')
    stopped = all(c.proc is None or c.proc.returncode is not None for c in supervisor.children)
    print('all nodes stopped' if stopped else 'jdd-ros demo: some node did not stop', flush=True)
    return code if stopped else (code or 1)


COMMANDS = {'demo': (add_arguments, run)}

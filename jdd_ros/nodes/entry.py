"""The node executables' entry points (setup.py ``console_scripts``): a Ctrl-C at any moment of start-up ends the
process in one line, without a traceback.

Until ``run_nodes`` takes the signals over (before ``rclpy.init``, so before any DDS participant exists), a SIGINT or
SIGTERM arrives while Python imports rclpy, numpy or torch: a KeyboardInterrupt raised there printed 20 lines from
inside ``import rclpy``, or rclpy's 'The C extension ... isn't present' when it hit the extension's import. Here the
signal ends the process at once, before those imports start: there is nothing to clean up yet. A command line with an
invalid remapping is refused here too, in one line, with exit status 2 (``jdd_ros.ros.ros_args``).
"""

from __future__ import annotations

import os
import signal
import sys

# No other import here (typing included): until start() has installed the handler, each module imported is time in
# which a Ctrl-C still gives a KeyboardInterrupt traceback.

STOPPED = b'[jdd_ros] stopped while starting\n'


def _stop_now(_signum: int, _frame: object) -> None:
    os.write(2, STOPPED)
    os._exit(0)


def start(module: str) -> None:
    """Run ``module.main()`` with Ctrl-C / SIGTERM ending the process quietly while modules are imported."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_now)
    # Blocked since the interpreter started (tools/ament_layout.py's 00_jdd_ros_node_signals.pth): one that arrived
    # meanwhile is delivered now, to the handler above.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    from jdd_ros.ros.ros_args import ros_args_problem

    problem = ros_args_problem(sys.argv)
    if problem:
        print(f'{os.path.basename(sys.argv[0])}: {problem}', file=sys.stderr)
        sys.exit(2)
    import importlib

    sys.exit(importlib.import_module(module).main())


def fusion_node() -> None:
    start('jdd_ros.nodes.fusion_node')


def detector_node() -> None:
    start('jdd_ros.nodes.detector_node')


def depth_node() -> None:
    start('jdd_ros.nodes.depth_node')


def pipeline() -> None:
    start('jdd_ros.nodes.pipeline')

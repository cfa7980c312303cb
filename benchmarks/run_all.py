"""Run every benchmark in one go on this machine and write benchmarks/RESULTS.md (the numbers the README quotes).

Each script runs in its own process, one after the other, so they do not compete for the CPU. ROS processes they
start keep DDS on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, own domain, own log directory) and get no
Fast DDS profile from the environment.
Usage: .venv/bin/python benchmarks/run_all.py [--only fusion,detector,...] (a subset replaces only its own sections)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ['bench_fusion.py', 'bench_detector.py', 'bench_detector_node.py', 'bench_depth.py', 'bench_filter_modes.py',
           'bench_pipeline.py', 'bench_pipeline_qos.py', 'bench_tracking.py', 'bench_startup.py',
           'bench_cameras.py']


def machine() -> str:
    cpu = 'unknown CPU'
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return (f'{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, '
            f'load average before the run {os.getloadavg()[0]:.2f}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', default='', help='comma-separated subset, e.g. fusion,detector')
    args = parser.parse_args()
    wanted = [s for s in SCRIPTS if not args.only or s[len('bench_'):-3] in args.only.split(',')]
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID=str(random.SystemRandom().randint(1, 232)),
               ROS_LOG_DIR=tempfile.mkdtemp(prefix='jdd_ros_bench_logs_'))
    # The environment a user has: no DDS profile exported (the nodes configure their own participant).
    for name in [k for k in env if k.startswith(('FASTDDS_', 'FASTRTPS_', 'RMW_FASTRTPS_'))]:
        del env[name]
    header = f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} — {machine()}'
    sections = [f'# Benchmark results\n\n{header}\n']
    status = 0
    for script in wanted:
        print(f'== {script}', flush=True)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, str(HERE / script)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        print(proc.stdout, flush=True)
        status |= proc.returncode != 0
        took = time.monotonic() - t0
        sections.append(f'## {script} ({took:.0f} s, exit {proc.returncode})\n\n{proc.stdout.strip()}\n')
    results = HERE / 'RESULTS.md'
    if args.only and results.is_file():  # a subset: the other scripts' sections of the last run stay
        old = results.read_text().split('\n## ')
        kept = [f'## {s.rstrip()}\n' for s in old[1:] if s.split(' ', 1)[0] not in wanted]
        sections = [old[0].rstrip() + '\n'] + kept + [s.replace('\n\n', f' — run alone: {header}\n\n', 1)
                                                      for s in sections[1:]]
    results.write_text('\n'.join(sections))
    print(f'written {results}')
    return status


if __name__ == '__main__':
    sys.exit(main())

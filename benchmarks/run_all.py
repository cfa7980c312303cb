"""Run every benchmark in one go on this machine and write benchmarks/RESULTS.md (the numbers the README quotes).

Each script runs in its own process, one after the other, so they do not compete for the CPU. ROS processes they
start keep DDS on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, own domain, own log directory).
Usage: .venv/bin/python benchmarks/run_all.py [--only fusion,detector,...]
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
           'bench_pipeline.py']


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
    sections = [f'# Benchmark results\n\n{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} — {machine()}\n']
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
    (HERE / 'RESULTS.md').write_text('\n'.join(sections))
    print(f'written {HERE / "RESULTS.md"}')
    return status


if __name__ == '__main__':
    sys.exit(main())

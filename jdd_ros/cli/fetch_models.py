"""``jdd-ros fetch-models``: download and sha256-verify the known detector models into the cache."""

from __future__ import annotations

import argparse
import sys

from jdd_ros.detect.darknet.model_store import (
    DEFAULT_TIMEOUT_S,
    KNOWN_MODELS,
    ModelError,
    cache_dir,
    fetch_model,
    model_status,
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('names', nargs='*', metavar='NAME',
                        help=f"models to provide (default: all known: {', '.join(KNOWN_MODELS)})")
    parser.add_argument('--list', action='store_true', help='list the known models and their state in the cache')
    parser.add_argument('--dir', help='model cache directory (default: $JDD_ROS_MODEL_DIR, '
                                      '$XDG_CACHE_HOME/jdd_ros/models or ~/.cache/jdd_ros/models)')
    parser.add_argument('--from', dest='source_dir', metavar='DIR',
                        help='copy the files from a local directory instead of downloading them (air-gapped '
                             'machines); looked up as DIR/NAME/FILE or DIR/FILE, verified like downloads')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT_S,
                        help='seconds a mirror may take to connect or stall before the next one is tried')


def _run(args: argparse.Namespace) -> int:
    root = cache_dir(args.dir)
    if args.list:
        print(f'model cache: {root}')
        for m in KNOWN_MODELS.values():
            print(f'  {m.name:12s} {model_status(m, args.dir):9s} {m.description}')
            for spec in m.files:
                size = f'{spec.size:,} bytes, ' if spec.size else ''
                print(f'      {spec.name:20s} {size}sha256 {spec.sha256[0]}')
        return 0
    names = args.names or list(KNOWN_MODELS)
    failed = []
    for name in names:
        try:
            paths = fetch_model(name, args.dir, args.source_dir, args.timeout)
        except ModelError as exc:
            print(f'error: {exc}', file=sys.stderr)
            failed.append(name)
            continue
        print(f'{name}: ready (cfg {paths.cfg}, weights {paths.weights}, names {paths.names})')
    if failed:
        print(f"error: not provided: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


COMMANDS = {'fetch-models': (_add_arguments, _run)}


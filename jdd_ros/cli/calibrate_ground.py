"""``jdd-ros calibrate-ground``: the camera's height, pitch and roll above the floor from one RGB-D frame, printed as
parameter-file lines for depth_source ground (``jdd_ros.core.ground_fit``; docs/ground.md)."""

from __future__ import annotations

import argparse
import sys

from jdd_ros.core.ground_fit import INLIER_M, MAX_RANGE_M, MAX_TILT_DEG, NoFloorFound, fit_floor
from jdd_ros.io.camera_info import read_camera_info_file
from jdd_ros.io.frames import read_depth_png


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('depth', metavar='DEPTH.png', help='a depth image of the camera in its place on the robot, '
                        'with a good part of the floor in view (16-bit PNG; value x --depth-scale = metres)')
    parser.add_argument('--depth-scale', type=float, default=0.001,
                        help='metres per depth-image unit (default 0.001: millimetres; TUM files: 0.0002)')
    parser.add_argument('--camera-info', required=True, metavar='CAM.yaml',
                        help='calibration YAML of the depth image (camera_calibration_parsers format)')
    parser.add_argument('--inlier-distance', type=float, default=INLIER_M,
                        help=f'a point this close to a plane (m) is on it (default {INLIER_M})')
    parser.add_argument('--max-range', type=float, default=MAX_RANGE_M,
                        help=f'use only depth nearer than this (m; default {MAX_RANGE_M:g}: Kinect-class noise beyond)')
    parser.add_argument('--max-tilt', type=float, default=MAX_TILT_DEG,
                        help="the floor's normal lies within this many degrees of the camera's down axis "
                        f'(default {MAX_TILT_DEG:.0f}: a camera mounted roughly upright)')


def run(args: argparse.Namespace) -> int:
    try:
        if not args.depth_scale > 0:
            raise ValueError(f'--depth-scale must be > 0, got {args.depth_scale}')
        if not args.inlier_distance > 0:
            raise ValueError(f'--inlier-distance must be > 0, got {args.inlier_distance}')
        camera = read_camera_info_file(args.camera_info)
        depth = read_depth_png(args.depth, args.depth_scale)
        fit = fit_floor(depth, camera, inlier_m=args.inlier_distance, max_tilt_deg=args.max_tilt,
                        max_range=args.max_range)
    except NoFloorFound as exc:
        print(f'jdd-ros calibrate-ground: {args.depth}: {exc}', file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f'jdd-ros calibrate-ground: {exc}', file=sys.stderr)
        return 2
    g = fit.geometry
    print(f'camera_height: {g.height:.3f}\ncamera_pitch: {g.pitch:.2f}\ncamera_roll: {g.roll:.2f}')
    print(f'# floor plane fit: residual {1000 * fit.rms_m:.1f} mm RMS, floor fraction {100 * fit.floor_fraction:.1f} % '
          f'of the valid depth pixels nearer than {args.max_range:g} m ({fit.inliers} of {fit.points} sampled points)')
    return 0


COMMANDS = {'calibrate-ground': (add_arguments, run)}

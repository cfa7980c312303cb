"""The files every benchmark runs on, from a plain checkout after `make setup` (no ../shared): the real COCO
yolov4-tiny from the model store, the TUM desk frame and yolov4.cfg from test/fixtures (see its README)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / 'test' / 'fixtures'
TUM_DESK_COLOR = FIXTURES / 'tum_desk_color.png'
TUM_DESK_DEPTH_MM = FIXTURES / 'tum_desk_depth_mm.png'
YOLOV4_CFG = FIXTURES / 'yolov4.cfg'


def yolov4_tiny_files() -> dict[str, str]:
    """cfg, weights and names of yolov4-tiny, sha256-verified; SystemExit naming the fix when the store lacks them.

    Call it before pointing XDG_CACHE_HOME elsewhere: the model store's default directory follows it."""
    from jdd_ros.detect.darknet import model_store

    try:
        files = model_store.resolve_model('yolov4-tiny')
    except model_store.ModelNotFoundError as exc:
        raise SystemExit(f'yolov4-tiny is not in the model store ({exc}); run: .venv/bin/jdd-ros fetch-models '
                         'yolov4-tiny') from exc
    return {'cfg': str(files.cfg), 'weights': str(files.weights), 'names': str(files.names)}


def tum_desk_rgb():
    """The 640x480 TUM desk frame as an RGB uint8 array."""
    import cv2

    return cv2.cvtColor(cv2.imread(str(TUM_DESK_COLOR)), cv2.COLOR_BGR2RGB)

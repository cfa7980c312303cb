"""``jdd-ros detect`` on the real TUM desk frame with the real yolov4-tiny files, checked against OpenCV DNN."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from harness import fixture, yolov4_tiny_files

from jdd_ros import cli
from jdd_ros.inference.backends import resolve_backend

# What `jdd-ros detect` runs by default here, and its tolerances against OpenCV DNN (bf16: issue #11's).
DEFAULT = resolve_backend('auto', 'cpu')
MIN_IOU, MAX_SCORE_DIFF = (0.9, 0.03) if DEFAULT.precision == 'bf16' else (0.98, 0.01)


@pytest.fixture(scope='module')
def files():
    return {**yolov4_tiny_files(), 'image': str(fixture('tum_desk_color.png'))}


def model_args(files) -> list[str]:
    return ['--cfg', files['cfg'], '--weights', files['weights'], '--names', files['names']]


def opencv_detections(files, conf: float = 0.25, nms: float = 0.45) -> list[tuple[int, float, list[float]]]:
    """The independent reference: OpenCV DNN's own Darknet reader, its raw outputs decoded and per-class NMS."""
    net = cv2.dnn.readNetFromDarknet(files['cfg'], files['weights'])
    bgr = cv2.imread(files['image'])
    h, w = bgr.shape[:2]
    net.setInput(cv2.dnn.blobFromImage(bgr, 1 / 255.0, (416, 416), swapRB=True, crop=False))
    rows = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
    out = []
    for cls in range(rows.shape[1] - 5):
        scores = rows[:, 5 + cls]
        keep = np.flatnonzero(scores > conf)
        if not len(keep):
            continue
        boxes = [[(rows[i, 0] - rows[i, 2] / 2) * w, (rows[i, 1] - rows[i, 3] / 2) * h, rows[i, 2] * w,
                  rows[i, 3] * h] for i in keep]
        for j in np.asarray(cv2.dnn.NMSBoxes(boxes, scores[keep].tolist(), conf, nms)).reshape(-1):
            x, y, bw, bh = boxes[j]
            box = np.clip([x, y, x + bw, y + bh], 0, [w, h, w, h])  # jdd_ros clips boxes to the image
            out.append((cls, float(scores[keep[j]]), box.tolist()))
    return out


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_detect_writes_json_finds_the_chairs_and_draws(files, tmp_path, capsys):
    out_json, out_png = tmp_path / 'det.json', tmp_path / 'det.png'
    assert cli.main(['detect', files['image'], *model_args(files), '--json', str(out_json),
                     '--out-image', str(out_png)]) == 0
    captured = capsys.readouterr()
    assert f'on {DEFAULT.backend} {DEFAULT.precision} (cpu' in captured.err and DEFAULT.reason in captured.err
    printed = [line for line in captured.out.splitlines() if line.startswith(files['image'])]
    records = json.loads(out_json.read_text())
    assert isinstance(records, list) and len(records) == 1
    assert records[0]['image'] == files['image']
    detections = records[0]['detections']
    assert len(printed) == len(detections) > 0
    names = open(files['names']).read().splitlines()
    for d in detections:
        assert set(d) == {'class_name', 'class_id', 'score', 'bbox_xyxy'}
        assert names[d['class_id']] == d['class_name']
        x1, y1, x2, y2 = d['bbox_xyxy']
        assert 0.25 <= d['score'] <= 1.0
        assert -1 <= x1 < x2 <= 641 and -1 <= y1 < y2 <= 481  # original 640x480 pixels, not network pixels
    chairs = [d for d in detections if d['class_name'] == 'chair']
    assert len(chairs) >= 2, f'the TUM desk frame shows two chairs; got {detections}'

    # Same objects as OpenCV DNN, boxes in the same (original-image) pixels.
    reference = opencv_detections(files)
    assert sorted(d['class_id'] for d in detections) == sorted(r[0] for r in reference)
    for d in detections:
        best = max((r for r in reference if r[0] == d['class_id']), key=lambda r: iou(r[2], d['bbox_xyxy']))
        assert iou(best[2], d['bbox_xyxy']) >= MIN_IOU
        assert abs(best[1] - d['score']) <= MAX_SCORE_DIFF

    drawn = cv2.imread(str(out_png))
    original = cv2.imread(files['image'])
    assert drawn.shape == original.shape
    x1, y1, x2, y2 = (int(round(v)) for v in chairs[0]['bbox_xyxy'])
    edge = np.abs(drawn[y1 + 5:y2 - 5, x1].astype(int) - original[y1 + 5:y2 - 5, x1].astype(int)).sum(axis=1)
    assert (edge > 30).mean() > 0.8, 'the chair box is drawn on the output image'


def test_detect_filters_classes_and_threshold(files, tmp_path, capsys):
    out_json = tmp_path / 'det.json'
    assert cli.main(['detect', files['image'], *model_args(files), '--classes', 'chair', '--conf', '0.5',
                     '--json', str(out_json)]) == 0
    detections = json.loads(out_json.read_text())[0]['detections']
    reference = [r for r in opencv_detections(files, conf=0.5) if r[0] == 56]  # 56 = chair in coco.names
    assert len(detections) == len(reference) >= 1
    assert all(d['class_name'] == 'chair' and d['score'] >= 0.5 for d in detections)


def test_detect_reports_bad_inputs(files, tmp_path, capsys):
    missing = tmp_path / 'nothing.png'
    out_json = tmp_path / 'det.json'
    # An unreadable image is reported, the others are still processed, and the status says something failed.
    assert cli.main(['detect', str(missing), files['image'], *model_args(files), '--json', str(out_json)]) == 1
    assert f'{missing}: cannot read the image' in capsys.readouterr().err
    assert [r['image'] for r in json.loads(out_json.read_text())] == [files['image']]
    # Unknown class names are refused with the model's classes listed.
    assert cli.main(['detect', files['image'], *model_args(files), '--classes', 'chiar']) == 2
    assert 'unknown class name(s) chiar' in capsys.readouterr().err


def test_detect_without_a_fetched_model_says_what_to_run(tmp_path, capsys):
    image = str(fixture('tum_desk_color.png'))
    assert cli.main(['detect', image, '--model', 'yolov4-tiny', '--model-dir', str(tmp_path)]) == 2
    assert 'Run: jdd-ros fetch-models yolov4-tiny' in capsys.readouterr().err
    assert cli.main(['detect', image, '--input-size', '400']) == 2  # not a multiple of 32: refused by the parser
    assert 'multiple of 32' in capsys.readouterr().err

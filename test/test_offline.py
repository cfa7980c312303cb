"""jdd-ros fuse and jdd-ros process on the real TUM/SUN RGB-D frames; distances checked against the depth PNG."""

import csv
import json

import cv2
import numpy as np
import pytest
from harness import fixture, mirror_box, real_rgbd_frames, reference_median, yolov4_tiny_files

from jdd_ros.cli import main
from jdd_ros.core.detection import Detection
from jdd_ros.io import bags
from jdd_ros.io.frames import read_depth_png


@pytest.fixture(scope='module')
def model_args():
    return [arg for key, path in yolov4_tiny_files().items() for arg in (f'--{key}', path)]


@pytest.fixture(scope='module')
def tum():
    return fixture('tum_desk_color.png'), fixture('tum_desk_depth_mm.png')


def test_fuse_finds_both_chairs_at_the_sensor_distance_and_drops_the_far_one(tmp_path, tum, model_args):
    color, depth = tum
    out_png, out_json = tmp_path / 'out.png', tmp_path / 'out.json'
    code = main(['fuse', str(color), '--depth-image', str(depth), '--depth-scale', '0.001', '--max-depth', '2.0',
                 *model_args, '-o', str(out_png), '--json', str(out_json)])
    assert code == 0
    doc = json.loads(out_json.read_text())
    kept, dropped = doc['detections'], doc['dropped']
    chairs = sorted([d for d in kept + dropped if d['class_name'] == 'chair'], key=lambda d: d['depth_m'])
    assert len(chairs) == 2
    for chair in chairs:
        assert set(chair) >= {'class_name', 'score', 'bbox_xyxy', 'depth_m', 'depth_valid_fraction'}
        assert chair['depth_m'] == pytest.approx(reference_median(depth, chair['bbox_xyxy'], scale=0.001), abs=1e-3)
    near, far = chairs
    assert near in kept and near['depth_m'] < 2.0
    assert far in dropped and far['dropped_reason'] == 'beyond max_depth' and far['depth_m'] > 2.0
    assert all(d['depth_m'] <= 2.0 for d in kept)
    image = cv2.imread(str(out_png))
    assert image.shape == (480, 640, 3)
    assert not np.array_equal(image, cv2.imread(str(color)))  # boxes and labels were drawn


@pytest.mark.parametrize('extra,message', [
    (['--max-depth', '-1'], 'max_depth must be >= 0.0'),
    (['--statistic', 'mean'], 'depth_statistic must be one of center, median, percentile'),
    (['--filter-mode', 'mask'], 'filter_mode must be one of'),
    (['--device', 'gpu'], "device must be 'cpu', 'cuda' or 'cuda:N'"),
])
def test_fuse_refuses_values_the_nodes_refuse_with_the_same_reason(tum, model_args, capsys, extra, message):
    color, depth = tum
    assert main(['fuse', str(color), '--depth-image', str(depth), *model_args, *extra]) == 2
    err = capsys.readouterr().err
    assert f'argument {extra[0]}: {message}' in err and len(err.splitlines()) == 1  # refused by the flag, named


def test_fuse_without_any_depth_says_what_to_give(tum, model_args, capsys):
    assert main(['fuse', str(tum[0]), *model_args]) == 2
    err = capsys.readouterr().err
    assert '--checkpoint' in err and 'depth image' in err


def test_mask_then_detect_never_reports_what_lies_beyond_the_threshold(tmp_path, tum, model_args):
    color, depth = tum
    out_json = tmp_path / 'masked.json'
    assert main(['fuse', str(color), '--depth-image', str(depth), '--max-depth', '2.0', '--filter-mode',
                 'mask_then_detect', *model_args, '--json', str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    assert doc['filter_mode'] == 'mask_then_detect'
    assert all(d['depth_m'] <= 2.0 for d in doc['detections'])
    # The far chair's box cannot come back: its pixels beyond 2 m were grey when the detector ran.
    far_chair = (391, 218, 528, 426)
    for d in doc['detections'] + doc['dropped']:
        x1, y1, x2, y2 = d['bbox_xyxy']
        iou_area = max(0, min(x2, far_chair[2]) - max(x1, far_chair[0])) * max(0, min(y2, far_chair[3]) -
                                                                              max(y1, far_chair[1]))
        union = (x2 - x1) * (y2 - y1) + (far_chair[2] - far_chair[0]) * (far_chair[3] - far_chair[1]) - iou_area
        assert not (d['class_name'] == 'chair' and iou_area / union > 0.5)


@pytest.fixture(scope='module')
def bag_with_boxes(tmp_path_factory):
    frames = real_rgbd_frames()  # the TUM desk, and the same frame mirrored left-right
    frames[0].detections = [Detection('chair', 0.9, 6, 272, 242, 480), Detection('chair', 0.8, 391, 217, 527, 425)]
    frames[1].detections = [Detection('book', 0.4, *mirror_box((237, 206, 312, 248)))]
    directory = tmp_path_factory.mktemp('bag')
    mirrored_png = directory / 'tum_desk_mirrored_depth_mm.png'
    cv2.imwrite(str(mirrored_png), cv2.imread(str(fixture('tum_desk_depth_mm.png')), cv2.IMREAD_UNCHANGED)[:, ::-1])
    return bags.write_bag(directory / 'frames.mcap', frames * 2, rate_hz=10), frames, mirrored_png


def test_process_bag_writes_video_and_csv_with_sensor_distances(tmp_path, bag_with_boxes, capsys):
    written, frames, mirrored_png = bag_with_boxes
    out = tmp_path / 'annotated.mp4'
    assert main(['process', str(written.storage_file), '--out', str(out), '--use-bag-detections', '--max-depth',
                 '2.0', '--no-progress']) == 0
    summary = capsys.readouterr().out
    assert '4 frames' in summary and 'annotated video' in summary
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 640
    cap.release()
    rows = list(csv.DictReader(open(tmp_path / 'annotated.csv')))
    assert len(rows) == 6  # 3 boxes per pass of the two frames
    assert [int(r['stamp_ns']) for r in rows] == sorted(int(r['stamp_ns']) for r in rows)
    assert {int(r['stamp_ns']) for r in rows} == set(written.stamps_ns)
    for r in rows:
        png = fixture('tum_desk_depth_mm.png') if r['class_name'] == 'chair' else mirrored_png
        box = [float(r[k]) for k in ('x1', 'y1', 'x2', 'y2')]
        assert float(r['depth_m']) == pytest.approx(reference_median(png, box, scale=0.001), abs=1e-3)
        assert r['kept'] == ('1' if float(r['depth_m']) <= 2.0 else '0')
        assert r['dropped_reason'] == ('' if r['kept'] == '1' else 'beyond max_depth')


def test_process_bag_to_bag_keeps_the_stamps_and_carries_the_distances(tmp_path, bag_with_boxes):
    written = bag_with_boxes[0]
    assert main(['process', str(written.path), '--out', str(tmp_path / 'out.db3'), '--use-bag-detections',
                 '--no-progress']) == 0
    types = bags.bag_topics(tmp_path / 'out')
    assert types == {'/annotated': bags.IMAGE_TYPE, '/detections_with_depth': bags.DETECTIONS_TYPE}
    msgs = [m.decode() for m in bags.read_messages(tmp_path / 'out', ['/detections_with_depth'])]
    assert [bags.header_stamp_ns(m) for m in msgs] == written.stamps_ns
    rows = {(r['stamp_ns'], r['class_name'], r['x1']): float(r['depth_m'])
            for r in csv.DictReader(open(tmp_path / 'out.csv'))}
    assert len(rows) == 6
    zs = sorted(d.results[0].pose.pose.position.z for m in msgs for d in m.detections)
    assert zs == pytest.approx(sorted(rows.values()), abs=1e-4)


def test_process_image_folder_with_depth_folder_runs_the_real_detector(tmp_path, tum, model_args):
    color, depth = tum
    (tmp_path / 'rgb').mkdir()
    (tmp_path / 'depth').mkdir()
    cv2.imwrite(str(tmp_path / 'rgb' / 'f0.png'), cv2.imread(str(color)))
    cv2.imwrite(str(tmp_path / 'depth' / 'f0.png'), cv2.imread(str(depth), cv2.IMREAD_UNCHANGED))
    out = tmp_path / 'annotated'
    assert main(['process', str(tmp_path / 'rgb'), '--depth-dir', str(tmp_path / 'depth'), '--out', str(out),
                 *model_args, '--no-progress']) == 0
    assert (out / '000000.png').is_file()
    rows = list(csv.DictReader(open(tmp_path / 'annotated.csv')))
    chairs = [r for r in rows if r['class_name'] == 'chair']
    assert len(chairs) == 2
    assert {(r['track_id'], r['range_rate_mps'], r['ttc_s']) for r in rows} == {('', '', '')}  # no time: no tracks
    metres = read_depth_png(depth)
    assert metres.shape == (480, 640)
    for r in chairs:
        box = [float(r[k]) for k in ('x1', 'y1', 'x2', 'y2')]
        assert float(r['depth_m']) == pytest.approx(reference_median(depth, box, scale=0.001), abs=1e-3)


def test_process_refuses_unknown_inputs(tmp_path, capsys):
    bad = tmp_path / 'notes.txt'
    bad.write_text('x')
    assert main(['process', str(bad), '--out', str(tmp_path / 'o.mp4'), '--no-progress']) == 2
    assert 'not a bag' in capsys.readouterr().err


def test_process_video_with_a_depth_model(tmp_path, tum, model_args, capsys):
    """A video has no depth: the depth model provides it (a plumbing checkpoint: the wiring, not the distances)."""
    from depth_helpers import plumbing_checkpoint

    from jdd_ros.depth.estimator import DepthEstimator

    checkpoint = plumbing_checkpoint(tmp_path / 'plumbing.pt')
    bgr = cv2.imread(str(tum[0]))
    video = tmp_path / 'in.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5.0, (640, 480))
    for _ in range(2):
        writer.write(bgr)
    writer.release()
    out = tmp_path / 'out.avi'
    assert main(['process', str(video), '--out', str(out), '--depth-checkpoint', str(checkpoint), *model_args,
                 '--no-progress']) == 0
    assert '2 frames' in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (480, 640, 3)
    rows = list(csv.DictReader(open(tmp_path / 'out.csv')))
    assert {r['frame'] for r in rows} == {'0', '1'}
    # Same frame twice: the depth model's reading of each box is the box statistic of its depth map.
    decoded = cv2.VideoCapture(str(video))
    _, frame0 = decoded.read()
    decoded.release()
    depth = DepthEstimator.from_checkpoint(checkpoint).predict(cv2.cvtColor(frame0, cv2.COLOR_BGR2RGB))
    from jdd_ros.core.box_depth import box_depth

    for r in (r for r in rows if r['frame'] == '0'):
        box = [float(r[k]) for k in ('x1', 'y1', 'x2', 'y2')]
        assert float(r['depth_m']) == pytest.approx(box_depth(depth, box).depth, abs=2e-3)


def test_fuse_with_a_depth_model_and_without_a_detector_file_says_what_is_missing(tmp_path, tum, capsys):
    assert main(['fuse', str(tum[0]), '--depth-checkpoint', str(tmp_path / 'none.pt'), '--cfg', 'x.cfg',
                 '--weights', 'x.weights', '--names', 'x.names']) == 2
    assert 'does not exist' in capsys.readouterr().err

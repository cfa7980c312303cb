"""The overlay: boxes with class, score and distance, labels that never cover each other."""

import math

import cv2
import numpy as np
from harness import fixture

from jdd_ros.core.detection import Detection
from jdd_ros.io.drawing import class_colour, draw_detections, label_size, label_text, layout_labels


def intersects(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_overlapping_boxes_do_not_intersect():
    # Eight boxes stacked on nearly the same spot: the original project's labels all landed on top of each other.
    dets = [Detection(f'person{i}', 0.9 - 0.01 * i, 100 + 3 * i, 100 + 2 * i, 300, 400, depth=1.0 + i)
            for i in range(8)]
    image = np.zeros((480, 640, 3), np.uint8)
    out, rects = draw_detections(image, dets)
    assert len(rects) == 8
    for i, a in enumerate(rects):
        assert 0 <= a[0] < a[2] <= 640 and 0 <= a[1] < a[3] <= 480
        for b in rects[i + 1:]:
            assert not intersects(a, b), (a, b)
    # Each label has a filled background of its class colour behind white text.
    x0, y0, x1, y1 = rects[0]
    patch = out[y0:y1, x0:x1].reshape(-1, 3)
    colour = np.array(class_colour('person0'))
    assert (patch == colour).all(axis=1).mean() > 0.4
    assert (patch > 200).all(axis=1).any()


def test_layout_many_boxes_disjoint():
    rng = np.random.default_rng(1)
    boxes = [(x, y, x + 60, y + 60) for x, y in rng.uniform(0, 560, size=(40, 2))]
    sizes = [label_size(f'chair 0.{i:02d} 2.00 m') for i in range(40)]
    rects = layout_labels(boxes, sizes, (640, 480))
    assert all(r is not None for r in rects)  # 40 labels fit in 640x480
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not intersects(a, b)


def test_crowded_image_drops_the_least_confident_labels_instead_of_covering():
    dets = [Detection('chair', 1.0 - i / 200, 10 * (i % 10), 10 * (i // 10), 10 * (i % 10) + 300,
                      10 * (i // 10) + 300, depth=2.0) for i in range(100)]
    _, rects = draw_detections(np.zeros((240, 320, 3), np.uint8), dets)
    placed = [r for r in rects if r is not None]
    assert 10 < len(placed) < 100  # 100 labels cannot fit in 320x240
    assert rects[0] is not None and rects[-1] is None  # the most confident keeps its label
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            assert not intersects(a, b)


def test_label_text_and_bad_boxes():
    assert label_text(Detection('chair', 0.87, 0, 0, 1, 1, depth=2.345)) == 'chair 0.87 2.35 m'
    assert label_text(Detection('chair', 0.87, 0, 0, 1, 1), 'no depth') == 'chair 0.87 ? m (no depth)'
    from jdd_ros.core.tracking import TRACK, TrackEstimate

    closing = Detection('chair', 0.87, 0, 0, 1, 1, depth=2.345,
                        extra={TRACK: TrackEstimate(7, 1.5, 15, ttc_s=4.06)})
    assert label_text(closing) == '#7 chair 0.87 2.35 m TTC 4.1 s'
    receding = Detection('chair', 0.87, 0, 0, 1, 1, extra={TRACK: TrackEstimate(8, 1.5, 15, ttc_s=math.inf)})
    assert label_text(receding, 'no depth') == '#8 chair 0.87 ? m (no depth)'
    image = np.zeros((50, 60, 3), np.uint8)
    out, rects = draw_detections(image, [Detection('x', 0.5, math.nan, 0, 5, 5),
                                         Detection('y', 0.5, -1e12, -5, 1e12, 80)])
    assert rects[0] is None and rects[1] is not None and out.shape == image.shape


def test_tum_overlay_picture(tmp_path):
    rgb = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    kept = [Detection('chair', 0.9, 5, 255, 240, 475, depth=1.74), Detection('chair', 0.85, 372, 230, 530, 435,
                                                                              depth=2.41),
            Detection('person', 0.4, 0, 200, 300, 479, depth=1.8)]  # overlaps the red chair
    dropped = [(Detection('handbag', 0.65, 467, 95, 548, 192, depth=2.5), 'beyond max_depth')]
    out, rects = draw_detections(rgb, kept, dropped)
    assert not np.shares_memory(out, rgb) and (out != rgb).any()
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not intersects(a, b)
    # The dropped bag is drawn in grey, thin: its box edge differs from the image only in grey.
    assert (out[150, 467] == (150, 150, 150)).all()
    assert cv2.imwrite(str(tmp_path / 'tum_overlay.png'), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))


def test_label_says_what_gave_the_distance():
    floor = Detection('chair', 0.81, 0, 0, 1, 1, depth=2.238, extra={'depth_source': 'floor'})
    depth = Detection('chair', 0.81, 0, 0, 1, 1, depth=2.238, extra={'depth_source': 'depth'})
    assert label_text(floor) == 'chair 0.81 2.24 m floor' and label_text(depth) == 'chair 0.81 2.24 m depth'
    unmeasured = Detection('chair', 0.94, 0, 0, 1, 1, extra={'no_depth_reason': 'box cut by the image bottom edge'})
    assert label_text(unmeasured) == 'chair 0.94 ? m'

"""From a model's output tensor to detections, in pure numpy: no runtime here, so any backend of the inference
layer (ONNX Runtime today) can feed it.

Selection follows Ultralytics/YOLOv5 ``non_max_suppression`` with their predict defaults (single label, class-aware
NMS), so users see the detections they saw upstream:

- v5: rows with objectness > conf; a class's confidence is objectness x class probability; the best class only,
  kept when its confidence > conf.
- v8: the best class of each anchor, kept when its score > conf.
- end2end: rows with score > conf, as the model ranked them; no NMS (the head is NMS-free or NMS already ran in the
  graph, with the IoU chosen at export), so ``nms_threshold`` does not apply.

A class filter applies after the best class is chosen, as upstream: a box whose best class is filtered out is
dropped, not relabelled. As NMS is per class, the filtered result is exactly the unfiltered one minus the other
classes. Up to ``detect.candidates.MAX_NMS`` best candidates go into NMS, and ``max_det`` detections per image
come out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jdd_ros.core.detection import Detection
from jdd_ros.detect.candidates import (
    Candidates,
    best_class,
    image_detections,
    nms_order,
    with_objectness,
    xywh_to_xyxy,
)
from jdd_ros.detect.letterbox import Letterbox


def _decode_v8(pred: np.ndarray, nc: int, conf_threshold: float, class_mask: np.ndarray | None) -> Candidates:
    scores = pred[4:4 + nc]  # (nc, anchors)
    anchors = np.nonzero(scores.max(axis=0) > conf_threshold)[0]  # cheap pre-filter before the argmax
    rows, conf, cls = best_class(scores[:, anchors].T, conf_threshold, class_mask)
    anchors = anchors[rows]
    return Candidates(xywh_to_xyxy(*pred[:4, anchors]), conf, cls)


def _decode_end2end(pred: np.ndarray, nc: int, conf_threshold: float,
                    class_mask: np.ndarray | None) -> Candidates:
    cls = np.rint(pred[:, 5])
    keep = (pred[:, 4] > conf_threshold) & (cls >= 0) & (cls < nc)  # padding rows have score 0
    cls = cls.astype(np.int64)
    if class_mask is not None:
        keep &= class_mask[np.where(keep, cls, 0)]
    pred, cls = pred[keep], cls[keep]
    return Candidates(pred[:, :4].astype(np.float64), pred[:, 4].copy(), cls)


_DECODERS = {'v5': with_objectness, 'v8': _decode_v8, 'end2end': _decode_end2end}


def decode(output: np.ndarray, layout: str, conf_threshold: float, num_classes: int,
           class_mask: np.ndarray | None = None) -> list[Candidates]:
    """Each image's candidates from a batch ``output`` of ``layout`` ('v5', 'v8', 'end2end').

    ``class_mask`` (bool per class) keeps only those classes. Scores are computed in the output's precision
    (float32), as upstream does.
    """
    decoder = _DECODERS[layout]
    return [decoder(pred, num_classes, conf_threshold, class_mask) for pred in output]


def select(candidates: Candidates, layout: str, nms_threshold: float, max_det: int) -> np.ndarray:
    """Indices of the candidates kept, by score descending: per-class NMS (v5, v8) or ranking only (end2end)."""
    if layout == 'end2end':
        return np.argsort(-candidates.scores, kind='stable')[:max_det]
    return nms_order(candidates, nms_threshold, max_det)


def postprocess(candidates: Sequence[Candidates], layout: str, letterboxes: Sequence[Letterbox],
                nms_threshold: float, max_det: int, class_names: Sequence[str]) -> list[list[Detection]]:
    """Detections per image: selected, boxes mapped back to (and clipped to) each image's own pixels."""
    results = []
    for cand, box in zip(candidates, letterboxes):
        results.append(image_detections(cand, select(cand, layout, nms_threshold, max_det), box, class_names))
    return results

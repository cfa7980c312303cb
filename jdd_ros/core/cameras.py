"""Several cameras in one pipeline process: the camera list of ``cameras:=front,left`` as ROS namespaces.

Each camera's nodes live under its namespace (``/front/detector_node`` reads ``/front/image`` and publishes
``/front/detections``), so the names must be valid ROS namespaces, each given once. No ROS import: ``bringup`` (no
ROS) and the pipeline executable both parse the list here.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def camera_namespaces(text: str, namespace: str = '') -> list[str]:
    """``'front,left'`` as ``['/front', '/left']`` (under ``namespace`` when given: ``/robot1/front``); ``[]`` for an
    empty text. ValueError naming the entry that is not a namespace, or the camera given twice."""
    names = [n.strip() for n in text.split(',')] if text.strip() else []
    prefix = [t for t in namespace.strip('/').split('/') if t]
    out: list[str] = []
    for name in names:
        tokens = name.strip('/').split('/')
        if not name or not all(_TOKEN.fullmatch(t) for t in tokens + prefix):
            raise ValueError(f"cameras: '{name}' is not a ROS namespace (letters, digits and '_', not starting with "
                             f"a digit, parts separated by '/'; e.g. cameras:=front,left)")
        full = '/' + '/'.join(prefix + tokens)
        if full in out:
            raise ValueError(f"cameras: '{name}' is given twice (each camera once: e.g. cameras:=front,left)")
        out.append(full)
    return out

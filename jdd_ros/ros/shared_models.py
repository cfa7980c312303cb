"""One loaded model per network for every camera of the pipeline process (``cameras:=front,left``).

A camera's detector and depth nodes ask this registry for their model by the parameters it is built from: the
first node builds it, the other cameras' nodes get the same object and the same lock, so the weights, the compiled
network and the runtime's memory are in the process once however many cameras it serves. The lock lets one frame
through the network at a time (a runtime's infer request is not safe to share between threads; and on a few cores
two inferences at once only interleave). No ROS import: the mechanism is tested on its own.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from jdd_ros.params import spec

M = TypeVar('M')
NOT_MODEL_PARAMETERS = ('reliability', 'autostart')  # read at start-up, but not by the model's build


@dataclass
class SharedModel(Generic[M]):
    """A loaded model, the lock that lets one inference at a time through it, and the nodes that use it."""

    model: M
    owner: str  # the node that built it
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: set[str] = field(default_factory=set)


def model_key(schema: str, params: object) -> tuple[tuple[str, Hashable], ...]:
    """What a node's model is built from: its parameters read at start-up (the ones changeable at run time apply
    per frame and do not change the model), besides the QoS and autostart."""
    return tuple((f.name, getattr(params, f.name)) for f in dataclasses.fields(params)
                 if f.name not in NOT_MODEL_PARAMETERS and not spec(schema, f.name).dynamic)


class SharedModels:
    """Models by (network, build parameters): ``acquire`` builds a model once, ``release`` frees it with its last
    user."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, Hashable], SharedModel] = {}
        self.built = 0  # models built (the start-up log and the tests count them)

    def acquire(self, kind: str, key: Hashable, user: str, build: Callable[[], M]) -> tuple[SharedModel[M], bool]:
        """The model of ``kind`` built from ``key``, and whether ``build()`` made it now for ``user``. The nodes
        configure one after the other; the registry's lock also covers two that do so at once."""
        with self._lock:
            shared = self._models.get((kind, key))
            fresh = shared is None
            if shared is None:
                shared = SharedModel(build(), owner=user)
                self._models[(kind, key)] = shared
                self.built += 1
            shared.users.add(user)
            return shared, fresh

    def release(self, user: str) -> None:
        """``user`` no longer uses its model (cleanup); a model nobody uses is dropped, and freed with it."""
        with self._lock:
            for key, shared in list(self._models.items()):
                shared.users.discard(user)
                if not shared.users:
                    del self._models[key]

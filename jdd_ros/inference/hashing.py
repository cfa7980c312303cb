"""sha256 of model files: the one digest every model file, checkpoint and cached export is checked with."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class ChecksumError(ValueError):
    """A model file whose sha256 is not the expected one: never loaded."""


def sha256_of(path: str | os.PathLike) -> str:
    with open(path, 'rb', buffering=0) as f:
        return hashlib.file_digest(f, 'sha256').hexdigest()


def sha256_sidecar(path: str | os.PathLike) -> Path:
    """``<file>.sha256``: where jdd_ros writes a file's digest beside it (``sha256sum`` format)."""
    return Path(str(path) + '.sha256')


def verify_sha256(path: str | os.PathLike, expected: str | None = None) -> tuple[str, str]:
    """Check ``path`` against ``expected`` or, when not given, against ``<path>.sha256`` if that exists.

    Returns (the file's digest, what it was verified against; '' when there was nothing to verify against);
    raises ChecksumError on a mismatch.
    """
    digest = sha256_of(path)
    source = 'the expected sha256' if expected else ''
    if not expected:
        side = sha256_sidecar(path)
        words = side.read_text().split() if side.exists() else []
        if words:
            expected, source = words[0], str(side)
    if expected and digest.lower() != expected.strip().lower():
        raise ChecksumError(f'{path}: sha256 {digest} does not match {source} ({expected.strip()}): the file is '
                            'corrupt, truncated or was replaced; refusing to load it')
    return digest, source

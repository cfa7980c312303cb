"""The cache of derived model files (ONNX exports, compiled OpenVINO models): verified before use, renewed by use,
and what no one used for UNUSED_FOR_S is removed when a new file is written."""

import os
import time

from jdd_ros.inference.export_cache import UNUSED_FOR_S, cached_file, read_verified, write_verified
from jdd_ros.inference.hashing import sha256_sidecar


def _age(path, seconds):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_a_changed_cached_file_is_made_again_and_never_read(tmp_path):
    made = []
    path = tmp_path / 'model-abc.onnx'
    cached_file(path, lambda tmp: (made.append(1), tmp.write_bytes(b'export one')))
    cached_file(path, lambda tmp: (made.append(1), tmp.write_bytes(b'export two')))
    assert len(made) == 1 and path.read_bytes() == b'export one'
    path.write_bytes(b'export onf')  # corrupted in place, same size
    assert read_verified(path) is None
    cached_file(path, lambda tmp: (made.append(1), tmp.write_bytes(b'export one')))
    assert len(made) == 2 and read_verified(path) == b'export one'


def test_writing_removes_what_was_not_used_for_a_month_and_keeps_the_rest(tmp_path):
    stale, recent, used = tmp_path / 'old-1.ovblob', tmp_path / 'recent-2.ovblob', tmp_path / 'used-3.ovblob'
    for path in (stale, recent, used):
        write_verified(path, path.name.encode())
    _age(stale, UNUSED_FOR_S + 3600)
    _age(recent, UNUSED_FOR_S - 3600)
    _age(used, UNUSED_FOR_S + 3600)
    assert read_verified(used) == b'used-3.ovblob'  # a use renews it
    foreign = tmp_path / 'notes.txt'  # not written by the cache: no digest file naming it
    foreign.write_text('mine')
    _age(foreign, 10 * UNUSED_FOR_S)
    other_digest = tmp_path / 'data.bin'  # a digest file that names another file: not the cache's
    other_digest.write_bytes(b'x')
    sha256_sidecar(other_digest).write_text('0' * 64 + '  something-else.bin\n')
    _age(other_digest, 10 * UNUSED_FOR_S)

    write_verified(tmp_path / 'new-4.ovblob', b'new')

    assert not stale.exists() and not sha256_sidecar(stale).exists()
    assert recent.exists() and used.exists() and foreign.exists() and other_digest.exists()
    assert read_verified(tmp_path / 'new-4.ovblob') == b'new'


def test_a_read_only_cache_still_serves(tmp_path, monkeypatch):
    path = tmp_path / 'model.onnx'
    write_verified(path, b'graph')

    def read_only(*args, **kwargs):
        raise PermissionError(30, 'Read-only file system')

    monkeypatch.setattr(os, 'utime', read_only)
    assert read_verified(path) == b'graph'
    assert cached_file(path, lambda tmp: tmp.write_bytes(b'not made again')).read_bytes() == b'graph'

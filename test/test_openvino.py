"""The OpenVINO backend: the runner's contract (as ONNX Runtime's), its compiled-model cache, and the depth U-Net in
bf16 against fp32 on the real photos.

Stated tolerance for depth in bf16 (the issue's "stated relative error of fp32"): relative error |bf16 - fp32| /
fp32 over every output pixel of the real photos, median <= 1 % and max <= 5 % (measured: median 0.26 %, max 1.3 %
with the plumbing U-Net here; median 0.16 %, max 1.9 % with a U-Net trained 4 epochs on synthetic scenes).
On a CPU without native bf16 the bf16 tests assert that bf16 is refused there, instead of passing as if it ran.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from depth_helpers import plumbing_checkpoint
from harness import fixture
from ultralytics_models import build_model, ultralytics_metadata

from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.inference.model_loading import open_model
from jdd_ros.inference.openvino import OpenVinoRunner, cpu_supports_bf16

NATIVE_BF16 = cpu_supports_bf16()
DEPTH_SIZE = (240, 320)


def _photos() -> list[np.ndarray]:
    """The real TUM desk frame of test/fixtures and its mirror image (two different real scenes for the network)."""
    tum = cv2.cvtColor(cv2.imread(str(fixture('tum_desk_color.png'))), cv2.COLOR_BGR2RGB)
    return [tum, np.ascontiguousarray(tum[:, ::-1])]


@pytest.fixture(scope='module')
def tiny_yolo(tmp_path_factory):
    """An Ultralytics-layout model with metadata and a dynamic batch (milliseconds to build)."""
    path = tmp_path_factory.mktemp('yolo') / 'tiny.onnx'
    return build_model(path, 'v8', 3, batch=None, metadata=ultralytics_metadata(3, (320, 320)))


@pytest.fixture(scope='module')
def depth_checkpoint(tmp_path_factory):
    return plumbing_checkpoint(tmp_path_factory.mktemp('depth') / 'depth.pt', input_size=DEPTH_SIZE)


def test_the_runner_describes_the_onnx_as_onnx_runtime_does(tiny_yolo):
    ov_runner, choice = open_model(tiny_yolo, backend='openvino', precision='fp32', cache_dir=None)
    ort_runner, _ = open_model(tiny_yolo, backend='onnxruntime')
    assert (choice.backend, choice.precision, ov_runner.precision) == ('openvino', 'fp32', 'fp32')
    assert ov_runner.inputs == ort_runner.inputs  # as declared: the dynamic batch stays None
    assert [(o.name, o.type) for o in ov_runner.outputs] == [(o.name, o.type) for o in ort_runner.outputs]
    assert ov_runner.metadata == ort_runner.metadata and ov_runner.metadata['task'] == 'detect'
    assert ov_runner.description.startswith('openvino 2026.4.1 fp32 on cpu (')
    batch = np.random.default_rng(0).random((3, 3, 320, 320), dtype=np.float32)
    ours, theirs = ov_runner(batch), ort_runner(batch)
    assert [o.shape for o in ours] == [o.shape for o in theirs]  # a batch of 3 runs image by image
    assert max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(ours, theirs)) < 1e-5
    with pytest.raises(TypeError, match='float32'):
        ov_runner(batch.astype(np.float64))


def test_onnx_bytes_run_like_the_file(tiny_yolo):
    from_file, _ = open_model(tiny_yolo, backend='openvino', precision='fp32', cache_dir=None)
    from_bytes, _ = open_model(tiny_yolo.read_bytes(), backend='openvino', precision='fp32', cache_dir=None)
    x = np.random.default_rng(1).random((1, 3, 320, 320), dtype=np.float32)
    assert np.array_equal(from_file(x)[0], from_bytes(x)[0])


def test_compiled_models_are_cached_and_checked(tiny_yolo, tmp_path):
    first, _ = open_model(tiny_yolo, backend='openvino', precision='fp32', cache_dir=tmp_path)
    assert first.loaded_from == 'onnx'
    (blob,) = tmp_path.glob('tiny-*.ovblob')
    assert (tmp_path / f'{blob.name}.sha256').read_text().split()[1] == blob.name
    again, _ = open_model(tiny_yolo, backend='openvino', precision='fp32', cache_dir=tmp_path)
    assert again.loaded_from == 'cache'
    assert (again.inputs, again.outputs, again.metadata) == (first.inputs, first.outputs, first.metadata)
    x = np.random.default_rng(2).random((1, 3, 320, 320), dtype=np.float32)
    assert np.array_equal(first(x)[0], again(x)[0])
    # A changed cached file is never imported: compiled again from the ONNX and rewritten.
    with open(blob, 'r+b') as f:
        f.seek(blob.stat().st_size // 2)
        f.write(b'\x00\x01\x02')
    changed, _ = open_model(tiny_yolo, backend='openvino', precision='fp32', cache_dir=tmp_path)
    assert changed.loaded_from == 'onnx' and np.array_equal(changed(x)[0], first(x)[0])
    assert open_model(tiny_yolo, backend='openvino', precision='fp32', cache_dir=tmp_path)[0].loaded_from == 'cache'
    # Another precision or a changed ONNX is another cache entry.
    if NATIVE_BF16:
        open_model(tiny_yolo, backend='openvino', precision='bf16', cache_dir=tmp_path)
        assert len(list(tmp_path.glob('*.ovblob'))) == 2


def test_first_inferences_from_two_threads_at_once_do_not_hang(tiny_yolo):
    """The pipeline's two networks start inferring at the same moment (a deadlock of openvino 2026.4.1's bindings
    unless the runner warmed them up first)."""
    runners = [OpenVinoRunner.open(tiny_yolo, 'fp32') for _ in range(2)]
    x = np.zeros((1, 3, 320, 320), np.float32)
    start = threading.Barrier(2)
    done = []

    def infer(runner):
        start.wait()
        runner(x)
        done.append(True)
    threads = [threading.Thread(target=infer, args=(r,), daemon=True) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(done) == 2


def test_depth_openvino_fp32_equals_onnxruntime(depth_checkpoint):
    ov_est = DepthEstimator.from_checkpoint(depth_checkpoint, backend='openvino', precision='fp32')
    ort_est = DepthEstimator.from_checkpoint(depth_checkpoint, backend='onnxruntime')
    assert (ov_est.backend, ov_est.precision) == ('openvino', 'fp32')
    assert 'openvino fp32 on cpu' in ov_est.description
    for image in _photos():
        a = ov_est.run_network(ov_est.preprocess(image)[None])
        b = ort_est.run_network(ort_est.preprocess(image)[None])
        assert float((np.abs(a - b) / np.abs(b)).max()) < 1e-4


def _relative_errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    rel = np.abs(a.astype(np.float64) - b) / np.abs(b.astype(np.float64))
    return float(np.median(rel)), float(rel.max())


def test_depth_bf16_within_the_stated_relative_error_of_fp32(depth_checkpoint):
    if not NATIVE_BF16:
        with pytest.raises(ValueError, match='no native bf16'):
            DepthEstimator.from_checkpoint(depth_checkpoint, precision='bf16')
        assert DepthEstimator.from_checkpoint(depth_checkpoint).precision != 'bf16'
        return
    bf16 = DepthEstimator.from_checkpoint(depth_checkpoint, precision='bf16')
    fp32 = DepthEstimator.from_checkpoint(depth_checkpoint, precision='fp32')
    assert (bf16.backend, bf16.precision, fp32.precision) == ('openvino', 'bf16', 'fp32')
    outputs = [np.stack([e.run_network(e.preprocess(im)[None])[0] for im in _photos()]) for e in (bf16, fp32)]
    median, worst = _relative_errors(*outputs)
    assert median <= 0.01 and worst <= 0.05, (median, worst)
    assert median > 0, 'bf16 really ran (its results differ from fp32)'


def test_depth_onnx_model_on_openvino(depth_checkpoint, tmp_path):
    from jdd_ros.cli import main as cli_main

    out = tmp_path / 'depth.onnx'
    assert cli_main(['export-depth-onnx', '--checkpoint', str(depth_checkpoint), '--out', str(out)]) == 0
    ov_est = DepthEstimator.from_onnx(out, backend='openvino', precision='fp32')
    ort_est = DepthEstimator.from_onnx(out, backend='onnxruntime')
    assert (ov_est.backend, ort_est.backend) == ('openvino', 'onnxruntime')
    image = _photos()[0]
    np.testing.assert_allclose(ov_est.predict(image), ort_est.predict(image), rtol=1e-4)
    with pytest.raises(ValueError, match='backend torch runs jdd_ros checkpoints only'):
        DepthEstimator.from_onnx(out, backend='torch')


def test_a_file_that_is_not_onnx_is_refused_in_one_line(tmp_path, capfd):
    garbage = tmp_path / 'garbage.onnx'
    garbage.write_bytes(b'<html>not a model</html>')
    with pytest.raises(ValueError, match="not a model OpenVINO can read as ONNX: Model can't be parsed") as info:
        open_model(garbage, backend='openvino', precision='fp32', cache_dir=tmp_path)
    assert '\n' not in str(info.value)
    assert 'tensorflow' not in capfd.readouterr().err  # only the ONNX reader tried it
    assert not list(tmp_path.glob('*.ovblob'))

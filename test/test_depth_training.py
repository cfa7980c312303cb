"""train-depth / eval-depth end to end: the U-Net learns depth from synthetic scenes (far better than any constant),
training resumes exactly, and both NYU layouts run through training and evaluation."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from nyu_fixtures import make_nyu_csv_files, write_labeled_mat, write_nyu_zip

from jdd_ros.cli import main
from jdd_ros.depth.checkpoint import DepthModelMeta, load_checkpoint, save_checkpoint
from jdd_ros.depth.metrics import METRIC_NAMES, MetricAccumulator, best_constant_delta1, compute_metrics
from jdd_ros.depth.synthetic_scenes import render_scene
from jdd_ros.depth.unet import DepthUNet

TEST_SEEDS = range(2_000_000, 2_000_032)  # neither training (0..) nor train-depth's own held-out set (1,000,000..)


@pytest.mark.timeout(300)
def test_training_on_synthetic_scenes_beats_the_best_constant(tmp_path, capsys):
    """The small configuration of docs/depth-training.md: a ResNet-18 U-Net, 64x64, 100 steps, one CPU thread."""
    n_train, size = 200, 64
    out = tmp_path / 'synthetic.pt'
    rc = main(['train-depth', '--synthetic', str(n_train), '--input-size', str(size), str(size), '--epochs', '4',
               '--batch-size', '8', '--lr', '1e-3', '--loss', 'silog', '--threads', '1', '--val-count', '16',
               '--no-progress', '--out', str(out)])
    assert rc == 0
    model, meta, _ = load_checkpoint(out)
    assert meta.trained_on == 'synthetic' and meta.epochs == 4 and meta.input_size == (size, size)

    # Independent evaluation on scenes nobody trained or selected on, with the inference path the node uses.
    from jdd_ros.depth.estimator import DepthEstimator

    estimator = DepthEstimator.from_checkpoint(out, threads=1)
    scenes = [render_scene(s, size, size) for s in TEST_SEEDS]
    model_acc = MetricAccumulator()
    for s in scenes:
        model_acc.add(compute_metrics(estimator.predict(s.rgb), s.depth))
    train_depths = np.concatenate([render_scene(s, size, size).depth.ravel() for s in range(0, n_train, 4)])
    median = float(np.median(train_depths))
    best_c, _ = best_constant_delta1(np.concatenate([s.depth.ravel() for s in scenes]))
    const = {}
    for name, c in (('median of training depths', median), ('best constant (fitted on the test scenes)', best_c)):
        acc = MetricAccumulator()
        for s in scenes:
            acc.add(compute_metrics(np.full_like(s.depth, c), s.depth))
        const[name] = acc.mean()
    m = model_acc.mean()
    with capsys.disabled():
        print(f'\nheld-out synthetic scenes ({len(scenes)}): model δ1 {m["delta1"]:.3f} AbsRel {m["abs_rel"]:.3f} '
              f'RMSE {m["rmse"]:.3f} m; ' + '; '.join(f'{k} {c:.2f} m: δ1 {v["delta1"]:.3f} AbsRel {v["abs_rel"]:.3f}'
                                                       for (k, v), c in zip(const.items(), (median, best_c))))
    best_constant = max(v['delta1'] for v in const.values())
    assert m['delta1'] > best_constant + 0.2
    assert m['abs_rel'] < 0.75 * min(v['abs_rel'] for v in const.values())


def _tiny(tmp_path, name, *extra):
    return ['train-depth', '--synthetic', '16', '--input-size', '32', '32', '--batch-size', '8', '--epochs', '2',
            '--threads', '1', '--val-count', '4', '--no-progress', '--out', str(tmp_path / name), *extra]


def test_resume_continues_exactly_where_it_stopped(tmp_path, monkeypatch):
    assert main(_tiny(tmp_path, 'straight.pt')) == 0
    straight, _, _ = load_checkpoint(tmp_path / 'straight.pt')

    import jdd_ros.depth.train as train_module

    real_save = train_module.save_checkpoint

    def save_then_interrupt(path, model, meta, **kw):
        real_save(path, model, meta, **kw)
        raise KeyboardInterrupt  # Ctrl-C right after the first epoch was saved

    monkeypatch.setattr(train_module, 'save_checkpoint', save_then_interrupt)
    assert main(_tiny(tmp_path, 'cut.pt')) == 130
    _, meta, rest = load_checkpoint(tmp_path / 'cut.pt')
    assert meta.epochs == 1 and rest['training_state']['step'] == 2
    monkeypatch.setattr(train_module, 'save_checkpoint', real_save)

    assert main(_tiny(tmp_path, 'resumed.pt', '--resume', str(tmp_path / 'cut.pt'))) == 0
    resumed, meta, rest = load_checkpoint(tmp_path / 'resumed.pt')
    assert meta.epochs == 2 and rest['training_state']['step'] == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f'{name} differs after resuming')
    # a resume with another schedule length is refused, not silently changed
    assert main(_tiny(tmp_path, 'other.pt', '--resume', str(tmp_path / 'cut.pt'), '--epochs', '3')) == 2


def test_bad_arguments_and_untrained_checkpoints_are_refused(tmp_path, capsys):
    assert main(['train-depth', '--out', str(tmp_path / 'x.pt')]) == 2
    assert main(_tiny(tmp_path, 'x.pt', '--input-size', '24', '50')) == 2
    assert 'at least 32 x 32' in capsys.readouterr().err
    untrained = tmp_path / 'untrained.pt'
    save_checkpoint(untrained, DepthUNet('resnet18'), DepthModelMeta(input_size=(32, 32)))
    assert main(['eval-depth', '--checkpoint', str(untrained), '--synthetic', '2', '--no-progress']) == 2
    assert 'UNTRAINED' in capsys.readouterr().err
    assert main(['eval-depth', '--synthetic', '2']) == 2


@pytest.mark.timeout(240)
def test_nyu_csv_zip_trains_and_evaluates_with_the_eigen_crop(tmp_path):
    files, _ = make_nyu_csv_files(np.random.default_rng(2), n_train=3, n_test=2)  # 640x480 like NYU
    data = write_nyu_zip(tmp_path / 'nyu_data.zip', files)
    ckpt = tmp_path / 'nyu.pt'
    assert main(['train-depth', '--nyu-csv', str(data), '--input-size', '64', '64', '--batch-size', '2',
                 '--epochs', '1', '--threads', '1', '--no-progress', '--out', str(ckpt)]) == 0
    _, meta, _ = load_checkpoint(ckpt)
    assert meta.trained_on == 'nyu_depth_v2' and meta.metrics['held_out_images'] == 2
    log = list(csv.DictReader((tmp_path / 'nyu.log.csv').open()))
    assert len(log) == 1 and float(log[0]['train_loss']) > 0

    out = tmp_path / 'eval'
    assert main(['eval-depth', '--checkpoint', str(ckpt), '--nyu-csv', str(data), '--out', str(out), '--threads',
                 '1', '--no-progress']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['images'] == 2 and summary['eigen_crop'] is True
    rows = list(csv.DictReader((out / 'per_image.csv').open()))
    assert len(rows) == 2
    for name in METRIC_NAMES:
        assert summary['metrics'][name] == pytest.approx(np.mean([float(r[name]) for r in rows]))
    # the predictions were compared at full resolution inside the Eigen crop, against the 16-bit mm test depth
    assert all(int(r['valid_pixels']) <= (471 - 45) * (601 - 41) for r in rows)
    assert all(int(r['valid_pixels']) > 0.9 * (471 - 45) * (601 - 41) for r in rows)
    assert (out / 'error_histogram.png').stat().st_size > 0 and (out / 'worst_images.png').stat().st_size > 0


def test_nyu_labeled_mat_trains_on_the_official_split(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(48, 64, 3, 5), dtype=np.uint8)
    depths = rng.uniform(0.5, 9.5, size=(48, 64, 5)).astype(np.float32)
    mat = write_labeled_mat(tmp_path / 'nyu_depth_v2_labeled.mat', images, depths)
    split = tmp_path / 'splits.mat'
    scipy.io.savemat(split, {'trainNdxs': np.array([[1], [2], [4]]), 'testNdxs': np.array([[3], [5]])})
    ckpt = tmp_path / 'mat.pt'
    assert main(['train-depth', '--nyu-mat', str(mat), '--split-file', str(split), '--input-size', '32', '32',
                 '--batch-size', '3', '--epochs', '1', '--threads', '1', '--no-progress', '--out', str(ckpt)]) == 0
    _, meta, _ = load_checkpoint(ckpt)
    assert meta.metrics['held_out_images'] == 2
    out = tmp_path / 'eval'
    assert main(['eval-depth', '--checkpoint', str(ckpt), '--nyu-mat', str(mat), '--split-file', str(split),
                 '--out', str(out), '--no-progress', '--threads', '1']) == 0
    rows = list(csv.DictReader((out / 'per_image.csv').open()))
    assert [r['name'] for r in rows] == ['nyu_labeled_0003', 'nyu_labeled_0005']
    # the same model exported to ONNX and evaluated through ONNX Runtime gives the same numbers
    assert main(['export-depth-onnx', '--checkpoint', str(ckpt), '--out', str(tmp_path / 'mat.onnx')]) == 0
    assert main(['eval-depth', '--onnx', str(tmp_path / 'mat.onnx'), '--nyu-mat', str(mat), '--split-file',
                 str(split), '--out', str(tmp_path / 'eval_onnx'), '--no-progress', '--threads', '1']) == 0
    torch_metrics = json.loads((out / 'summary.json').read_text())['metrics']
    onnx_metrics = json.loads((tmp_path / 'eval_onnx' / 'summary.json').read_text())['metrics']
    for name in ('delta1', 'abs_rel', 'rmse'):
        assert onnx_metrics[name] == pytest.approx(torch_metrics[name], abs=1e-3)
    assert main(['train-depth', '--nyu-mat', str(mat), '--out', str(tmp_path / 'y.pt'), '--no-progress']) == 2


def test_augmentation_moves_depth_with_the_image_and_never_recolours_it():
    from jdd_ros.depth.augment import AugmentPolicy, horizontal_flip
    from jdd_ros.depth.synthetic_scenes import synthetic_dataset

    rng = np.random.default_rng(0)
    cols = np.tile(np.arange(8, dtype=np.float32), (4, 1))
    rgb = np.stack([cols / 7, cols / 7, cols / 7], axis=-1)
    depth = 1.0 + cols  # depth grows to the right like the image brightness
    f_rgb, f_depth = horizontal_flip(rgb, depth)
    np.testing.assert_array_equal(f_depth, depth[:, ::-1])
    np.testing.assert_array_equal(f_rgb[..., 0] * 7 + 1, f_depth)  # still the same pixel pairs
    a_rgb, a_depth = AugmentPolicy(flip=1.0, jitter=1.0, swap=1.0)(rgb, depth, rng)
    np.testing.assert_array_equal(a_depth, depth[:, ::-1])  # metres untouched by colour changes
    assert not np.allclose(a_rgb, f_rgb) and a_rgb.min() >= 0 and a_rgb.max() <= 1

    plain = synthetic_dataset(range(4), (32, 64))
    augmented = synthetic_dataset(range(4), (32, 64), augment=AugmentPolicy())
    torch.manual_seed(0)
    flips = 0
    for i in range(4):
        for _ in range(3):
            d0, d1 = plain[i][1], augmented[i][1]
            if torch.equal(d1, d0):
                continue
            assert torch.equal(d1, torch.flip(d0, dims=[-1]))
            flips += 1
    assert 0 < flips < 12


@pytest.mark.parametrize('shape', [(48, 64), (100, 50), (20, 30)])
def test_training_images_are_preprocessed_like_the_deployed_model(shape):
    """What the network trains on is exactly what DepthEstimator (depth_node) feeds it at run time."""
    from jdd_ros.depth.datasets import IMAGENET_MEAN, IMAGENET_STD, DepthTensorDataset, RGBDSample
    from jdd_ros.depth.estimator import DepthEstimator

    rgb = np.random.default_rng(0).integers(0, 256, size=(*shape, 3), dtype=np.uint8)

    class One:
        def __len__(self):
            return 1

        def load(self, i):
            return RGBDSample(rgb, np.ones(shape, np.float32), 'x')

    image, _ = DepthTensorDataset(One(), (32, 64))[0]
    estimator = DepthEstimator(lambda b: b, input_size=(32, 64), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                               meta=DepthModelMeta(input_size=(32, 64)), description='identity', backend='test')
    np.testing.assert_allclose(image.numpy(), estimator.preprocess(rgb), atol=1e-5)


def test_encoder_weights_are_refused_unless_the_digest_in_their_name_matches(tmp_path):
    from jdd_ros.depth.checkpoint import CheckpointError
    from jdd_ros.depth.train import load_encoder_weights
    from jdd_ros.inference.hashing import sha256_of

    state = {'conv1.weight': torch.arange(6.0).reshape(1, 1, 2, 3)}
    saved = tmp_path / 'weights.pth'
    torch.save(state, saved)
    good = saved.rename(tmp_path / f'resnet18-{sha256_of(saved)[:8]}.pth')
    assert torch.equal(load_encoder_weights(good)['conv1.weight'], state['conv1.weight'])
    bad = tmp_path / 'resnet18-00000000.pth'
    bad.write_bytes(good.read_bytes())
    with pytest.raises(CheckpointError, match='does not start with 00000000'):
        load_encoder_weights(bad)


def _train_process(tmp_path, name, *extra):
    import subprocess
    import sys

    cmd = [str(Path(sys.executable).parent / 'jdd-ros'), *_tiny(tmp_path, name), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'PYTHONUNBUFFERED': '1'})


def test_ctrl_c_names_the_last_checkpoint_written(tmp_path):
    """A real SIGINT once the first epoch's checkpoint exists: exit 130 and the message names that checkpoint and its
    epoch, as the file on disk records it (a Ctrl-C during a save waits for the save and names the new one)."""
    import signal

    out = tmp_path / 'long.pt'
    proc = _train_process(tmp_path, 'long.pt', '--epochs', '500')
    try:
        deadline = time.monotonic() + 240
        while not Path(f'{out}.sha256').exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f'{out}.sha256').exists(), proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    _, meta, _ = load_checkpoint(out)  # loads: the checkpoint and its .sha256 agree
    assert f'the last checkpoint written is {out} (after epoch {meta.epochs} of 500)' in err, err
    assert f'--resume {out}' in err and 'Traceback' not in err


def test_ctrl_c_before_the_first_epoch_ends_says_no_checkpoint_was_written(tmp_path):
    import signal

    out = tmp_path / 'early.pt'
    proc = _train_process(tmp_path, 'early.pt', '--synthetic', '4000')  # 500 steps per epoch: far from its end
    try:
        assert proc.stdout.readline().startswith('training a')  # the model and data are ready, the epoch starts
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert 'no checkpoint written' in err and 'Traceback' not in err, err
    assert not out.exists()


def test_the_missing_checkpoint_hint_is_the_short_run_docs_measured(tmp_path):
    """The synthetic command a missing checkpoint suggests is the 100-step run whose time docs/depth-training.md
    states (the earlier hint was 5,000 steps at 240x320: about 5 hours on 2 cores)."""
    import argparse
    import shlex

    from jdd_ros.cli.train_depth import add_arguments
    from jdd_ros.depth.checkpoint import read_checkpoint
    from jdd_ros.depth.hints import QUICK_SYNTHETIC_MINUTES, QUICK_SYNTHETIC_TRAINING

    with pytest.raises(FileNotFoundError) as missing:
        read_checkpoint(tmp_path / 'absent.pt')
    assert f"'{QUICK_SYNTHETIC_TRAINING}' ({QUICK_SYNTHETIC_MINUTES})" in str(missing.value)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(shlex.split(QUICK_SYNTHETIC_TRAINING)[2:])
    assert args.synthetic // args.batch_size * args.epochs == 100 and tuple(args.input_size) == (64, 96)
    docs = (Path(__file__).parents[1] / 'docs' / 'depth-training.md').read_text()
    assert QUICK_SYNTHETIC_TRAINING in docs and '48 s and 57 s wall' in docs

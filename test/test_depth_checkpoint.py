"""The checkpoint format: round trip, loading without executing code, sha256 check, refusal of untrained models."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from depth_helpers import plumbing_checkpoint, plumbing_model, sample_image

from jdd_ros.depth.checkpoint import (
    CheckpointError,
    DepthModelMeta,
    load_checkpoint,
    save_checkpoint,
)
from jdd_ros.depth.estimator import DepthEstimator
from jdd_ros.inference.hashing import sha256_of

torch.set_num_threads(1)


def test_round_trip_keeps_weights_meta_and_resume_state(tmp_path):
    model = plumbing_model(seed=4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    model(torch.randn(2, 3, 32, 32)).mean().backward()
    opt.step()
    model.eval()
    meta = DepthModelMeta(encoder='resnet18', input_size=(96, 128), trained_on='synthetic', epochs=3,
                          metrics={'delta1': np.float64(0.91), 'abs_rel': 0.12}, notes='n')
    path = tmp_path / 'ck.pt'
    save_checkpoint(path, model, meta, optimizer_state=opt.state_dict(), training_state={'epoch': 3, 'step': 40})

    loaded, meta2, rest = load_checkpoint(path)
    assert meta2 == DepthModelMeta(encoder='resnet18', input_size=(96, 128), trained_on='synthetic', epochs=3,
                                   metrics={'delta1': 0.91, 'abs_rel': 0.12}, notes='n')
    assert not loaded.training
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert rest['training_state'] == {'epoch': 3, 'step': 40}
    opt2 = torch.optim.AdamW(loaded.parameters(), lr=1e-3)
    opt2.load_state_dict(rest['optimizer_state'])  # resumable
    assert opt2.state_dict()['state'][0]['step'] == opt.state_dict()['state'][0]['step']


def test_file_loads_with_plain_weights_only_torch_load(tmp_path):
    path = plumbing_checkpoint(tmp_path / 'ck.pt')
    payload = torch.load(path, weights_only=True)  # independent of our loader: no pickled classes inside
    assert payload['format'] == 'jdd_ros.depth_checkpoint'
    assert payload['meta']['trained_on'] == 'plumbing-test'
    assert isinstance(payload['meta']['metrics']['delta1'], float)  # numpy scalar converted


def test_sha256_sidecar_written_and_checked(tmp_path):
    path = plumbing_checkpoint(tmp_path / 'ck.pt')
    side = tmp_path / 'ck.pt.sha256'
    assert side.read_text().split()[0] == sha256_of(path)
    _, _, rest = load_checkpoint(path)
    assert rest['sha256'] == sha256_of(path) and rest['sha256_verified_against'] == str(side)
    assert load_checkpoint(path, sha256=sha256_of(path))[2]['sha256_verified_against'] == 'the expected sha256'
    with pytest.raises(CheckpointError, match='sha256'):
        load_checkpoint(path, sha256='0' * 64)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='does not match'):
        load_checkpoint(path)
    other = plumbing_checkpoint(tmp_path / 'other.pt')
    (tmp_path / 'other.pt.sha256').unlink()
    assert load_checkpoint(other)[2]['sha256_verified_against'] == ''  # loads, but reported as unverified


@pytest.mark.parametrize('trained_on,epochs', [('', 0), ('', 5), ('synthetic', 0)])
def test_untrained_checkpoints_are_refused_with_a_way_out(tmp_path, trained_on, epochs):
    path = plumbing_checkpoint(tmp_path / 'ck.pt', trained_on=trained_on, epochs=epochs)
    with pytest.raises(CheckpointError, match='UNTRAINED') as err:
        load_checkpoint(path)
    assert 'jdd-ros train-depth' in str(err.value)
    with pytest.raises(CheckpointError, match='UNTRAINED'):
        DepthEstimator.from_checkpoint(path)
    model, meta, _ = load_checkpoint(path, require_trained=False)  # training resumes from such files
    assert not meta.is_trained


def test_bare_state_dict_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'bare.pt'
    torch.save(plumbing_model().state_dict(), path)
    with pytest.raises(CheckpointError, match='not a jdd_ros depth checkpoint'):
        load_checkpoint(path)


class _Exploit:
    """Unpickling this would create a directory: proves the loader never runs pickled code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pt'
    torch.save({'format': 'jdd_ros.depth_checkpoint', 'version': 1, 'x': _Exploit(str(marker))}, path)
    with pytest.raises(CheckpointError, match='weights_only'):
        load_checkpoint(path)
    assert not marker.exists()
    # The same with a plain pickle file (what a renamed .pkl would be).
    path2 = tmp_path / 'evil2.pt'
    path2.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(CheckpointError, match='not a jdd_ros depth checkpoint'):
        load_checkpoint(path2)
    assert not marker.exists()


def test_text_file_and_missing_file(tmp_path):
    path = tmp_path / 'notes.pt'
    path.write_text('hello')
    with pytest.raises(CheckpointError, match='not a jdd_ros depth checkpoint'):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match='train-depth'):
        load_checkpoint(tmp_path / 'absent.pt')


def test_meta_must_describe_the_model(tmp_path):
    with pytest.raises(ValueError, match='does not describe'):
        save_checkpoint(tmp_path / 'x.pt', plumbing_model(), DepthModelMeta(encoder='resnet34'))


def test_estimator_from_checkpoint_resizes_back_to_the_input(tmp_path):
    path = plumbing_checkpoint(tmp_path / 'ck.pt', input_size=(64, 96))
    est = DepthEstimator.from_checkpoint(path, precision='fp32')  # compared with torch in fp32 below
    img = sample_image(75, 131)
    depth = est.predict(img)
    assert depth.shape == (75, 131) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() >= 0.1 and depth.max() <= 10.0
    assert depth.std() > 0.01  # not a constant: the image structure shows
    # Independent reference: the network by hand at 96x64, resized back with OpenCV.
    import cv2

    model, meta, _ = load_checkpoint(path)
    x = cv2.resize(img, (96, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0  # shrinking: area
    x = (x - np.array(meta.mean, np.float32)) / np.array(meta.std, np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))[0, 0].numpy()
    ref = cv2.resize(ref, (131, 75), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(depth, ref, rtol=1e-4, atol=1e-5)
    batch = est.predict_batch([img, img[:40, :50]])
    assert batch[0].shape == (75, 131) and batch[1].shape == (40, 50)
    np.testing.assert_allclose(batch[0], depth, rtol=1e-5)
    assert 'plumbing-test' in est.description and 'resnet18' in est.description
    assert DepthEstimator.from_checkpoint(path, input_size=(32, 64)).predict(img).shape == (75, 131)
    assert DepthEstimator.from_checkpoint(path, input_size=(60, 80)).predict(img).shape == (75, 131)  # padded
    with pytest.raises(ValueError, match='at least 32'):
        DepthEstimator.from_checkpoint(path, input_size=(16, 64))


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message given where CUDA is absent')
def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    path = plumbing_checkpoint(tmp_path / 'ck.pt')
    with pytest.raises(RuntimeError, match="device 'cuda:0'.*use device cpu"):
        DepthEstimator.from_checkpoint(path, device='cuda:0')

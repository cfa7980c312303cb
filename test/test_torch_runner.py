"""Backend torch behind the same runner contract as ONNX Runtime and OpenVINO (``inference.model_loading``): a torch
module and its own ONNX export give the same outputs, in the same order, through either runner; the Darknet
detector and the depth estimator run torch through it."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from jdd_ros.inference.model_loading import open_model, open_torch_module
from jdd_ros.inference.runner import Runner, TensorInfo


class TwoHeads(nn.Module):
    """uint8 NHWC images in (as the Darknet family feeds them), two float outputs of different shapes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(images.permute(0, 3, 1, 2).float() / 255.0)
        return torch.sigmoid(x), x.mean(dim=(2, 3))


INPUTS = [TensorInfo('images', (None, 8, 12, 3), 'tensor(uint8)')]
OUTPUTS = [TensorInfo('maps', (None, 4, 8, 12), 'tensor(float)'), TensorInfo('means', (None, 4), 'tensor(float)')]


def test_a_torch_module_and_its_onnx_export_run_alike_through_the_runner_contract(tmp_path):
    module = TwoHeads().eval()
    path = tmp_path / 'two_heads.onnx'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter announces its own deprecation
        torch.onnx.export(module, (torch.zeros(1, 8, 12, 3, dtype=torch.uint8),), str(path), dynamo=False,
                          input_names=['images'], output_names=['maps', 'means'],
                          dynamic_axes={'images': {0: 'batch'}, 'maps': {0: 'batch'}, 'means': {0: 'batch'}})
    on_torch = open_torch_module(module, device='cpu', inputs=INPUTS, outputs=OUTPUTS)
    on_onnx, _ = open_model(path, backend='onnxruntime', threads=1)
    assert isinstance(on_torch, Runner) and isinstance(on_onnx, Runner)
    assert (on_torch.backend, on_torch.precision) == ('torch', 'fp32') and on_torch.threads >= 1
    assert [o.name for o in on_torch.outputs] == [o.name for o in on_onnx.outputs] == ['maps', 'means']
    assert on_torch.inputs[0].type == on_onnx.inputs[0].type == 'tensor(uint8)' and on_torch.metadata == {}
    batch = np.random.default_rng(1).integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)
    with torch.inference_mode():
        expected = [out.numpy() for out in module(torch.from_numpy(batch))]  # the module called directly
    for runner in (on_torch, on_onnx):
        outputs = runner(batch)
        assert [o.shape for o in outputs] == [(2, 4, 8, 12), (2, 4)]
        for got, want in zip(outputs, expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_an_unknown_torch_precision_is_refused():
    with pytest.raises(ValueError, match="torch precision 'bf16': expected one of fp32, fp16"):
        open_torch_module(TwoHeads(), precision='bf16')


def test_the_inference_layer_imports_torch_only_to_run_a_torch_module():
    code = ('import sys; import jdd_ros.inference.model_loading, jdd_ros.inference.backends; '
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'False'

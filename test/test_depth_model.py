"""The U-Net and its ResNet encoders: output shape and range, torchvision-compatible names and sizes."""

from __future__ import annotations

import pytest
import torch

from jdd_ros.depth.resnet import ResNetEncoder
from jdd_ros.depth.unet import DepthUNet

torch.set_num_threads(1)

# torchvision.models.resnet{18,34,50}(): parameter counts including fc (1000 classes), from torchvision's docs.
TORCHVISION_PARAM_COUNTS = {'resnet18': 11_689_512, 'resnet34': 21_797_672, 'resnet50': 25_557_032}
BLOCKS = {'resnet18': ('basic', (2, 2, 2, 2)), 'resnet34': ('basic', (3, 4, 6, 3)),
          'resnet50': ('bottleneck', (3, 4, 6, 3))}


def torchvision_keys(name: str) -> set[str]:
    """The state-dict keys of torchvision's ResNet, written out from its architecture (not from our module)."""
    kind, blocks = BLOCKS[name]
    bn = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    keys = {'conv1.weight', 'fc.weight', 'fc.bias'} | {f'bn1.{p}' for p in bn}
    convs = 3 if kind == 'bottleneck' else 2
    for stage, count in enumerate(blocks, start=1):
        for b in range(count):
            prefix = f'layer{stage}.{b}.'
            for c in range(1, convs + 1):
                keys.add(f'{prefix}conv{c}.weight')
                keys |= {f'{prefix}bn{c}.{p}' for p in bn}
            # torchvision: a projection shortcut where the stride or the width changes, i.e. the first block of
            # every stage except layer1 of the basic-block nets.
            if b == 0 and (stage > 1 or kind == 'bottleneck'):
                keys.add(f'{prefix}downsample.0.weight')
                keys |= {f'{prefix}downsample.1.{p}' for p in bn}
    return keys


@pytest.mark.parametrize('name', ['resnet18', 'resnet34', 'resnet50'])
def test_encoder_matches_torchvision_names_and_parameter_count(name):
    enc = ResNetEncoder(name, with_classifier=True)
    assert set(enc.state_dict()) == torchvision_keys(name)
    assert sum(p.numel() for p in enc.parameters()) == TORCHVISION_PARAM_COUNTS[name]


def test_known_torchvision_shapes():
    r34 = ResNetEncoder('resnet34').state_dict()
    r50 = ResNetEncoder('resnet50').state_dict()
    assert r34['layer3.5.bn2.running_var'].shape == (256,)
    assert r34['layer2.0.downsample.0.weight'].shape == (128, 64, 1, 1)
    assert 'layer1.0.downsample.0.weight' not in r34
    assert r50['layer3.5.bn2.running_var'].shape == (256,)
    assert r50['layer1.0.downsample.0.weight'].shape == (256, 64, 1, 1)
    assert r50['layer4.0.conv2.weight'].shape == (512, 512, 3, 3)  # stride on the 3x3 (v1.5)
    assert r50['layer4.2.conv3.weight'].shape == (2048, 512, 1, 1)


def test_torchvision_state_dict_loads_into_the_unet_encoder():
    # A full ImageNet-style state dict (with fc) as torchvision would save it.
    torch.manual_seed(3)
    source = ResNetEncoder('resnet18', with_classifier=True)
    for p in source.parameters():
        torch.nn.init.normal_(p)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    model = DepthUNet('resnet18')
    model.load_encoder_state_dict(state)
    own = model.encoder.state_dict()
    for key, value in state.items():
        if not key.startswith('fc.'):
            assert torch.equal(own[key], value), key
    broken = dict(state)
    del broken['layer2.1.bn2.running_var']
    with pytest.raises(ValueError, match='layer2.1.bn2.running_var'):
        DepthUNet('resnet18').load_encoder_state_dict(broken)
    r34 = ResNetEncoder('resnet34', with_classifier=True).state_dict()
    with pytest.raises(ValueError, match='unexpected'):  # resnet34 has more blocks
        DepthUNet('resnet18').load_encoder_state_dict(r34)
    r50 = ResNetEncoder('resnet50', with_classifier=True).state_dict()
    with pytest.raises(RuntimeError, match='size mismatch'):  # same names, bottleneck shapes
        DepthUNet('resnet18').load_encoder_state_dict({k: v for k, v in r50.items() if k in state})


@pytest.mark.parametrize('encoder,size', [('resnet18', (32, 32)), ('resnet18', (64, 96)), ('resnet18', (96, 64)),
                                          ('resnet34', (64, 64)), ('resnet50', (32, 64)),
                                          ('resnet18', (60, 80))])
def test_output_shape_and_range(encoder, size):
    model = DepthUNet(encoder, min_depth=0.1, max_depth=10.0).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1, *size)
    assert torch.isfinite(y).all()
    assert (y >= 0.1).all() and (y <= 10.0).all()


def test_output_reaches_both_ends_of_the_depth_range():
    model = DepthUNet('resnet18', min_depth=0.5, max_depth=4.0).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        model.head.bias.fill_(60.0)
        far = model(x)
        model.head.bias.fill_(-60.0)
        near = model(x)
    assert torch.allclose(far, torch.full_like(far, 4.0), rtol=1e-4)
    assert torch.allclose(near, torch.full_like(near, 0.5), rtol=1e-4)


def test_sizes_that_are_not_multiples_of_32_are_padded_and_cropped_back():
    model = DepthUNet('resnet18').eval()
    x = torch.randn(1, 3, 48, 70)
    with torch.no_grad():
        y = model(x)
        # Same as padding by hand (replicate, bottom/right) to 64x96 and cropping.
        ref = model(torch.nn.functional.pad(x, (0, 26, 0, 16), mode='replicate'))[..., :48, :70]
    assert y.shape == (1, 1, 48, 70)
    assert torch.allclose(y, ref)
    with pytest.raises(ValueError, match='at least 32'):
        model(torch.zeros(1, 3, 16, 64))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match='unknown encoder'):
        DepthUNet('resnet101')
    with pytest.raises(ValueError, match='min_depth'):
        DepthUNet('resnet18', min_depth=5.0, max_depth=1.0)


def test_gradients_reach_encoder_and_decoder():
    model = DepthUNet('resnet18').train()
    y = model(torch.randn(2, 3, 32, 32))
    torch.nn.functional.l1_loss(y, torch.full_like(y, 3.0)).backward()
    assert model.encoder.conv1.weight.grad.abs().sum() > 0
    assert model.up5.conv[0].weight.grad.abs().sum() > 0
    assert model.head.weight.grad.abs().sum() > 0

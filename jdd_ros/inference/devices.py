"""Inference devices as users write them ('cpu', 'cuda', 'cuda:N'), checked before a model is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES_HELP = "'cpu', 'cuda' or 'cuda:N'"


def parse_device(device: str) -> tuple[str, int | None]:
    """('cpu' | 'cuda', index or None); ValueError naming the accepted forms. No torch needed."""
    if device == 'cpu' or device == 'cuda':
        return device, None
    if device.startswith('cuda:') and device[5:].isdigit():
        return 'cuda', int(device[5:])
    raise ValueError(f'device {device!r}: expected {DEVICES_HELP}')


def is_cuda(device: str) -> bool:
    return parse_device(device)[0] == 'cuda'


def torch_device(device: str) -> torch.device:
    """The torch.device for ``device``, refused with a clear message when this machine cannot use it."""
    import torch

    kind, index = parse_device(device)
    if kind == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError(f'device {device!r} requested but this torch build/machine has no CUDA '
                               f'(torch {torch.__version__}); use device cpu')
        if index is not None and index >= torch.cuda.device_count():
            raise RuntimeError(f'device {device!r}: only {torch.cuda.device_count()} CUDA device(s)')
    return torch.device(device)

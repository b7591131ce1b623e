"""The frame contract's twin for PyTorch tensors (see `frames`): the same scalings with the same
operations in the same order, so a tensor path and an array path give the same bits. Imported only
where PyTorch already is (the torch backend, export, training), never by the rest of `runtime`."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nir_to_network(nir: torch.Tensor, input_range: tuple[float, float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (or 0-255 float) NIR -> the network's input range, in `dtype`."""
    return unit_to_network(nir.to(dtype) / 255.0, input_range)


def unit_to_network(unit: torch.Tensor, input_range: tuple[float, float]) -> torch.Tensor:
    """NIR on [0, 1] -> the network's input range (identity for the usual [0, 1])."""
    lo, hi = input_range
    return unit if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * unit


def rgb_to_network(rgb: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    """uint8 RGB (any layout) -> float32 on the network's output range: a training target."""
    lo, hi = output_range
    return lo + (hi - lo) * (rgb.float() / 255.0)


def network_to_unit(y: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    """A network's N x 3 x H x W output on its range -> float32 on [0, 1], not clamped."""
    lo, hi = output_range
    return (y.float() - lo) * (1.0 / (hi - lo))


def network_to_rgb_float(y: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    """A network's output -> N x H x W x 3 float32 on [0, 255], not rounded (for parity checks)."""
    return (network_to_unit(y, output_range) * 255.0).permute(0, 2, 3, 1)


def network_to_rgb(y: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    """A network's output -> N x H x W x 3 uint8 RGB, rounded and clamped on the tensor's device."""
    return unit_to_rgb(network_to_unit(y, output_range))


def unit_to_rgb(unit: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W on [0, 1] -> N x H x W x 3 uint8 RGB."""
    return levels_to_rgb(unit * 255.0)


def levels_to_rgb(levels: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W on [0, 255] -> N x H x W x 3 uint8 RGB: rounded, clamped, interleaved."""
    return levels.round().clamp(0.0, 255.0).to(torch.uint8).permute(0, 2, 3, 1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """N x C x H x W reflect-padded at the bottom and right to multiples of `multiple` (needs each
    pad shorter than its side, true for frames of at least `multiple` pixels)."""
    h, w = x.shape[-2], x.shape[-1]
    return F.pad(x, (0, (-w) % multiple, 0, (-h) % multiple), mode="reflect")

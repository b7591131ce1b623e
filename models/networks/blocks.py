"""Layers shared by the encoder-decoder networks."""

from __future__ import annotations

import torch
from torch import nn


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by BatchNorm and ReLU (U-Net / SNet block)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def init_weights(module: nn.Module) -> None:
    """Xavier for convolutions (Limmer & Lensch), unit scale for normalisation."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def encode_with_skips(encoders: nn.ModuleList, pool: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A U-Net encoder: each block's output is kept as a skip and pooled for the next, the last
    block's output is the bottleneck. Returns (bottleneck, skips from fine to coarse)."""
    skips = []
    for i, enc in enumerate(encoders):
        x = enc(x)
        if i < len(encoders) - 1:
            skips.append(x)
            x = pool(x)
    return x, skips


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple; returns the padded tensor and the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        # Reflection needs pad < size; tiny inputs fall back to replication.
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


HEADS = ("nir_residual", "tanh")


class OutputHead(nn.Module):
    """The last layer of a generator, from full-resolution features to an image in [-1, 1].

    `tanh`: a 1x1 convolution and tanh, the papers' head. `nir_residual`: a 1x1 convolution
    gives a gain and an offset per pixel and channel, and the output is (1 + gain) * NIR +
    offset. Its weights start at zero, so an untrained network is the NIR-as-grey baseline
    and training learns colour as a correction of it: on a CPU budget of minutes a network
    from scratch with a tanh head is still below that baseline (SNet-16: 12.2 dB against 14.1
    in CV), and the NIR's own edges reach the output unblurred.
    """

    def __init__(self, kind: str, in_channels: int, out_channels: int = 3):
        super().__init__()
        if kind not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {kind!r}")
        self.kind = kind
        self.proj = nn.Conv2d(in_channels, out_channels * (2 if kind == "nir_residual" else 1), 1)
        self.reset()

    def reset(self) -> None:
        """Start at the grey baseline (nir_residual); call after a network's own weight init."""
        if self.kind == "nir_residual":
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, features: torch.Tensor, nir: torch.Tensor) -> torch.Tensor:
        """`nir`: the network's input in [0, 1], one or more bands (their mean is the grey)."""
        y = self.proj(features)
        if self.kind == "tanh":
            return torch.tanh(y)
        gain, offset = y.chunk(2, dim=1)
        grey = 2 * nir.mean(dim=1, keepdim=True) - 1
        return torch.clamp((1 + gain) * grey + offset, -1.0, 1.0)

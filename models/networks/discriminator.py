"""Conditional PatchGAN discriminator (pix2pix), used only for adversarial training."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import init_weights


class PatchDiscriminator(nn.Module):
    """Scores overlapping patches of (NIR, RGB) as real or generated.

    Options:
        width: channels of the first layer; doubled per layer, capped at 8x.
        layers: stride-2 layers (3 gives 70x70 receptive fields).
        conditional: concatenate the NIR input to the RGB image (Limmer & Lensch's "C").
    """

    def __init__(self, width: int = 64, layers: int = 3, conditional: bool = True):
        super().__init__()
        self.conditional = conditional
        prev = 4 if conditional else 3
        seq: list[nn.Module] = []
        for i in range(layers):
            c = width * min(2**i, 8)
            seq += [nn.Conv2d(prev, c, 4, stride=2, padding=1, bias=i == 0)]
            if i > 0:
                seq.append(nn.BatchNorm2d(c))
            seq.append(nn.LeakyReLU(0.2, inplace=True))
            prev = c
        seq.append(nn.Conv2d(prev, 1, 4, padding=1))
        self.net = nn.Sequential(*seq)
        init_weights(self)

    def forward(self, nir: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([nir, rgb], dim=1) if self.conditional else rgb)

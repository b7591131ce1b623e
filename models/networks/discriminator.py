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


class SingleLayerDiscriminator(nn.Module):
    """Limmer & Lensch's discriminator: one downsampling convolution layer (a filter bank of
    `width` = 128), then a 1x1 convolution to a real/generated logit per location.

    Options:
        width: filters of the layer (128 in the paper).
        conditional: also see the NIR input (the paper's "C" variants).
    """

    def __init__(self, width: int = 128, conditional: bool = True):
        super().__init__()
        self.conditional = conditional
        self.net = nn.Sequential(nn.Conv2d(4 if conditional else 3, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Conv2d(width, 1, 1))
        init_weights(self)

    def forward(self, nir: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([nir, rgb], dim=1) if self.conditional else rgb)


class DCGANDiscriminator(nn.Module):
    """The triplet cDCGAN's discriminator: strided 4x4 convolutions with batch norm and leaky
    ReLU 0.2 down to 4x4 (from the paper's 64x64 patches: four layers), then a fully connected
    layer to one logit per patch; conditioned on the NIR patch.

    Options:
        width: channels of the first layer, doubled per layer.
        layers: stride-2 layers; the map is averaged to 4x4 before the fully connected layer,
            so crops other than 64x64 work too.
        conditional: concatenate the NIR patch to the RGB one.
    """

    def __init__(self, width: int = 64, layers: int = 4, conditional: bool = True):
        super().__init__()
        self.conditional = conditional
        prev, seq = 4 if conditional else 3, []
        for i in range(layers):
            c = width * 2**i
            seq += [nn.Conv2d(prev, c, 4, stride=2, padding=1, bias=i == 0)]
            if i > 0:
                seq.append(nn.BatchNorm2d(c))
            seq.append(nn.LeakyReLU(0.2, inplace=True))
            prev = c
        self.features = nn.Sequential(*seq, nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(prev * 16, 1)
        init_weights(self)

    def forward(self, nir: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        x = self.features(torch.cat([nir, rgb], dim=1) if self.conditional else rgb)
        return self.fc(x.flatten(1))

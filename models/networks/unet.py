"""U-Net baseline: the pix2pix generator (Isola et al.) that Limmer & Lensch compare as
"U-Net-64-S": 4x4 stride-2 convolutions down, 4x4 stride-2 transposed convolutions up, skip
concatenations between mirrored layers, tanh to RGB.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import init_weights, pad_to_multiple


class UNet(nn.Module):
    """pix2pix-style U-Net generator.

    Options:
        width: channels of the first layer (64 in U-Net-64-S); doubled per level, capped at 8x.
        depth: stride-2 levels; inputs are padded to a multiple of 2**depth. pix2pix uses 8 for
            256x256 crops; 6 keeps padding small on video frames (1080 -> 1088).
        dropout: dropout in the three innermost decoder layers (pix2pix's noise source).
    """

    def __init__(self, width: int = 64, depth: int = 6, dropout: float = 0.0, in_channels: int = 1, out_channels: int = 3):
        super().__init__()
        if width < 1 or depth < 2:
            raise ValueError(f"UNet needs width >= 1 and depth >= 2, got width={width}, depth={depth}")
        self.multiple = 2**depth
        chans = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        prev = in_channels
        for i, c in enumerate(chans):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            layers.append(nn.Conv2d(prev, c, 4, stride=2, padding=1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(c))
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            target = out_channels if i == 0 else chans[i - 1]
            cin = prev if i == depth - 1 else 2 * prev
            layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(cin, target, 4, stride=2, padding=1, bias=i == 0)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(target))
                if dropout > 0 and i >= depth - 3:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
            prev = target
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()  # the innermost output feeds the first up layer directly
        for i, layer in enumerate(self.up):
            if i > 0:
                x = torch.cat([x, skips.pop()], dim=1)
            x = layer(x)
        return x[..., :h, :w]

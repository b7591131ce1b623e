"""SNet (Dong, Kamata & Breckon, ICIP 2018): ColorNet generator and EdgeNet loss network.

ColorNet is a U-Net: 5 encoder blocks (two 3x3 conv + BN + ReLU), max-pool by 2 and channel
doubling between them; 4 decoder blocks that upsample, concatenate the matching encoder
features and apply two 3x3 conv + BN + ReLU; a 1x1 conv + tanh to RGB. We pad instead of the
paper's valid-convolution cropping so any frame size maps to the same size out.

EdgeNet is used only while training: it maps the difference ColorNet(x) - y to the edge map of
y, so its L2 loss pushes ColorNet's errors away from everything but the edges (eqs. 4-7).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import double_conv, encode_with_skips, init_weights, pad_to_multiple


class ColorNet(nn.Module):
    """SNet's colorization U-Net.

    Options:
        width: channels of the first block (the paper's is 64); doubled at each of 4 poolings.
        levels: encoder blocks (5 in the paper); inputs are padded to 2**(levels-1).
        in_channels / out_channels: 1 NIR channel in, 3 RGB channels out.
    """

    def __init__(self, width: int = 64, levels: int = 5, in_channels: int = 1, out_channels: int = 3):
        super().__init__()
        if width < 1 or levels < 2:
            raise ValueError(f"ColorNet needs width >= 1 and levels >= 2, got width={width}, levels={levels}")
        chans = [width * 2**i for i in range(levels)]
        self.multiple = 2 ** (levels - 1)
        self.encoders = nn.ModuleList()
        prev = in_channels
        for c in chans:
            self.encoders.append(double_conv(prev, c))
            prev = c
        self.pool = nn.MaxPool2d(2)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for c in reversed(chans[:-1]):
            # 2x2 up-convolution halving the channels (Ronneberger et al.); with the two convs
            # after the concatenation a block goes from 4c in to c out ("quarter").
            self.upsamplers.append(nn.ConvTranspose2d(prev, c, 2, stride=2))
            self.decoders.append(double_conv(2 * c, c))
            prev = c
        self.head = nn.Sequential(nn.Conv2d(prev, out_channels, 1), nn.Tanh())
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        x, skips = encode_with_skips(self.encoders, self.pool, x)
        for up, dec, skip in zip(self.upsamplers, self.decoders, reversed(skips)):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)[..., :h, :w]


class EdgeNet(nn.Module):
    """SNet's shallow loss network: two stride-2 3x3 conv layers down (BN, LeakyReLU 0.2), two
    stride-2 3x3 transposed conv layers up (BN, tanh). Input: the 3-channel difference map;
    output: the 3-channel edge map of the ground truth.

    Options:
        width: channels after the first encoding layer (doubled after the second).
    """

    def __init__(self, width: int = 32, channels: int = 3):
        super().__init__()
        self.multiple = 4

        def up(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.Tanh(),
            )

        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            up(2 * width, width),
            up(width, channels),
        )
        init_weights(self)

    def forward(self, diff: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(diff, self.multiple)
        return self.net(x)[..., :h, :w]

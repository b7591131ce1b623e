"""Two-branch structure-aware network (Park, Lee, Lee & Kim, "Multi-Band NIR Colorization Using
Structure-Aware Network").

A U-Net whose convolutional blocks are dense blocks; one encoder and two decoders: a grey
branch that learns structure (it recovers the grey of the target) and an RGB branch that
learns colour. While training, a scale-map network of three convolution layers reads the grey
branch's Sobel gradient and gives a per-pixel scale s; the loss compares s * grad(grey) with
the NIR's gradient (`losses.TwoBranchObjective`). Only the encoder and the RGB branch run at
recall: the grey branch and the scale map exist for the losses, and the exported graph
carries neither.

Input: N NIR bands (1 for the EPFL data; the paper's 780, 850 and 940 nm bands for 3).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import OutputHead, encode_with_skips, init_weights, pad_to_multiple


class DenseBlock(nn.Module):
    """`layers` 3x3 conv-BN-ReLU layers, each fed the concatenation of the block's input and
    every earlier layer's output (growth `growth` channels each), then a 1x1 transition."""

    def __init__(self, cin: int, cout: int, growth: int, layers: int = 3):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin + i * growth, growth, 3, padding=1, bias=False), nn.BatchNorm2d(growth), nn.ReLU(inplace=True))
            for i in range(layers))
        self.transition = nn.Sequential(nn.Conv2d(cin + layers * growth, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return self.transition(torch.cat(features, dim=1))


class Decoder(nn.Module):
    def __init__(self, chans: list[int], growth: int, head: str, out_channels: int):
        super().__init__()
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        prev = chans[-1]
        for c in reversed(chans[:-1]):
            self.ups.append(nn.ConvTranspose2d(prev, c, 2, stride=2))
            self.blocks.append(DenseBlock(2 * c, c, growth))
            prev = c
        self.head = OutputHead(head, prev, out_channels)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor], nir: torch.Tensor) -> torch.Tensor:
        for up, block, skip in zip(self.ups, self.blocks, reversed(skips)):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x, nir)


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel gradients of a one-channel image: Nx2xHxW."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)


class TwoBranchNet(nn.Module):
    """Dense U-Net encoder, grey and RGB decoders, scale-map network.

    Options:
        width: channels of the first level, doubled per level.
        levels: encoder levels (4 poolings at 5); inputs are padded to 2**(levels-1).
        growth: channels each dense layer adds.
        head: `nir_residual` (default; both branches start as the NIR's grey) or `tanh`.
        in_channels: NIR bands (1, or 3 for the paper's multi-band input).
    """

    def __init__(self, width: int = 16, levels: int = 5, growth: int = 8, head: str = "nir_residual", in_channels: int = 1):
        super().__init__()
        if width < 1 or levels < 2 or growth < 1:
            raise ValueError(f"TwoBranchNet needs width >= 1, levels >= 2, growth >= 1, got {width}, {levels}, {growth}")
        self.multiple = 2 ** (levels - 1)
        chans = [width * 2**i for i in range(levels)]
        self.encoders = nn.ModuleList()
        prev = in_channels
        for c in chans:
            self.encoders.append(DenseBlock(prev, c, growth))
            prev = c
        self.pool = nn.MaxPool2d(2)
        self.rgb_branch = Decoder(chans, growth, head, 3)
        self.grey_branch = Decoder(chans, growth, head, 1)
        self.scale_map = nn.Sequential(nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(16, 16, 3, padding=1),
                                       nn.ReLU(inplace=True), nn.Conv2d(16, 1, 3, padding=1))
        init_weights(self)
        for branch in (self.rgb_branch, self.grey_branch):
            branch.head.reset()
        # The scale map starts at 1: the NIR's gradient compared with the grey's as it is.
        nn.init.zeros_(self.scale_map[-1].weight)
        nn.init.ones_(self.scale_map[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        code, skips = encode_with_skips(self.encoders, self.pool, x)
        return self.rgb_branch(code, skips, x)[..., :h, :w]

    def training_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The RGB output and what the structure losses need: the grey branch's output, its
        scaled Sobel gradient and the NIR's (band mean) Sobel gradient."""
        padded, (h, w) = pad_to_multiple(x, self.multiple)
        code, skips = encode_with_skips(self.encoders, self.pool, padded)
        rgb = self.rgb_branch(code, skips, padded)[..., :h, :w]
        grey = self.grey_branch(code, skips, padded)[..., :h, :w]
        grey_gradient = sobel(grey)
        scale = self.scale_map(grey_gradient)
        nir_gradient = sobel(2 * x.mean(dim=1, keepdim=True) - 1)
        return rgb, {"grey": grey, "scaled_grey_gradient": scale * grey_gradient, "nir_gradient": nir_gradient}

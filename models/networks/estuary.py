"""Estuary network (Limmer & Lensch, "Improving Infrared Colorization", 2017).

An image pyramid of the input; one encoder branch per scale, each downsampling its scale to
the lowest resolution with the channels doubling from a base `width` up to `cap`; a decoder
like a U-Net's whose every resolution concatenates the feature maps of all branches at that
resolution (hypercolumns). Down- and upsampling are residual inception modules (Figure 2) or
(transposed) strided convolutions; each module is preceded by batch norm and an activation
(leaky ReLU 0.2 in the encoder, ReLU in the decoder).

The paper's variant letters are options: I (`inception`), S (`skip`), R (`residual`); C, the
conditional discriminator, belongs to the training objective (`nircolor train --objective
estuary`). The paper's Estuary-16-ISRC had 7 downsamplings on 768x1024 frames; at nircolor's
384-pixel working size 5 reach the same 1/32 scale of the frame's content as 7 at 1024 does
not, so `depth` defaults to 5.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import OutputHead, init_weights, pad_to_multiple


def _resample(mode: str) -> nn.Module:
    """The residual path's scaling: average pooling down, bilinear up, nothing otherwise."""
    if mode == "down":
        return nn.AvgPool2d(2)
    if mode == "up":
        return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    return nn.Identity()


def _scaled_conv(cin: int, cout: int, kernel: int, mode: str) -> nn.Module:
    """Figure 2's starred layers: stride 2 down, a fractionally strided (transposed) convolution
    up, stride 1 otherwise; each keeps the exact factor of 2 at any size."""
    if mode == "down":
        return nn.Conv2d(cin, cout, kernel, stride=2, padding=kernel // 2)
    if mode == "up":
        return nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=kernel // 2, output_padding=1)
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2)


class InceptionScale(nn.Module):
    """The residual inception module: four branches of a quarter of the output channels each
    (1x1; 1x1-3x3; 1x1-3x3-3x3; pooling-1x1, the scaling in the last layer of each),
    concatenated."""

    def __init__(self, cin: int, cout: int, mode: str, act: type[nn.Module]):
        super().__init__()
        if cout % 4:
            raise ValueError(f"an inception module needs channels divisible by 4, got {cout}")
        q = cout // 4
        pool = {"down": nn.AvgPool2d(3, stride=2, padding=1), "up": nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)}
        self.branches = nn.ModuleList([
            _scaled_conv(cin, q, 1, mode),
            nn.Sequential(nn.Conv2d(cin, q, 1), act(), _scaled_conv(q, q, 3, mode)),
            nn.Sequential(nn.Conv2d(cin, q, 1), act(), nn.Conv2d(q, q, 3, padding=1), act(), _scaled_conv(q, q, 3, mode)),
            nn.Sequential(pool.get(mode, nn.Identity()), nn.Conv2d(cin, q, 1)),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class ScaleModule(nn.Module):
    """Batch norm, activation, then an inception module or a 4x4 (transposed) strided
    convolution; plus, with `residual`, the input rescaled (and projected by a 1x1 convolution
    where the channels change)."""

    def __init__(self, cin: int, cout: int, mode: str, inception: bool, residual: bool, encoder: bool):
        super().__init__()
        act = (lambda: nn.LeakyReLU(0.2)) if encoder else nn.ReLU
        self.pre = nn.Sequential(nn.BatchNorm2d(cin), act())
        if inception:
            self.body: nn.Module = InceptionScale(cin, cout, mode, act)
        elif mode == "down":
            self.body = nn.Conv2d(cin, cout, 4, stride=2, padding=1)
        elif mode == "up":
            self.body = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
        else:
            self.body = nn.Conv2d(cin, cout, 3, padding=1)
        self.shortcut = None
        if residual:
            project = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)
            self.shortcut = nn.Sequential(_resample(mode), project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(self.pre(x))
        return y if self.shortcut is None else y + self.shortcut(x)


class Estuary(nn.Module):
    """Estuary network.

    Options:
        width: base channels `nc` of every branch (16 in Estuary-16, 32 in Estuary-32).
        cap: channel limit of the doubling (128 in the paper).
        depth: downsamplings of the longest (full-resolution) branch; inputs are padded to a
            multiple of 2**depth.
        scales: pyramid levels, one encoder branch each (branch k starts at 1/2**k).
        inception, skip, residual: the paper's I, S and R (all on: Estuary-ISR).
        head: `nir_residual` (default; starts as NIR-as-grey) or `tanh` (the paper's).
        in_channels: NIR bands.
    """

    # oneDNN (PyTorch 2.13's CPU build) corrupts memory in the backward pass of the up branches'
    # stride-2 1x1 transposed convolutions in channels-last once their input is about 28 px or
    # more: training died at its first step. It trains in NCHW (models/train.py asks).
    trains_channels_last = False

    def __init__(self, width: int = 16, cap: int = 128, depth: int = 5, scales: int = 3, inception: bool = True,
                 skip: bool = True, residual: bool = True, head: str = "nir_residual", in_channels: int = 1):
        super().__init__()
        if width < 4 or width % 4 or cap < width:
            raise ValueError(f"Estuary needs width a multiple of 4 and cap >= width, got width={width}, cap={cap}")
        if not 1 <= scales <= depth:
            raise ValueError(f"Estuary needs 1 <= scales <= depth, got scales={scales}, depth={depth}")
        self.multiple = 2**depth
        self.depth, self.scales, self.skip = depth, scales, skip

        def channels(steps: int) -> int:
            return min(width * 2**steps, cap)

        self.pool = nn.AvgPool2d(2)
        self.stems = nn.ModuleList(nn.Conv2d(in_channels, width, 3, padding=1) for _ in range(scales))
        # branches[b][j]: branch b's j-th downsampling, from level b + j to b + j + 1.
        self.branches = nn.ModuleList(
            nn.ModuleList(ScaleModule(channels(j), channels(j + 1), "down", inception, residual, encoder=True) for j in range(depth - b))
            for b in range(scales))
        # Channels each level's hypercolumn gets from the branches that reach it.
        level_channels = [sum(channels(level - b) for b in range(min(level, scales - 1) + 1)) for level in range(depth + 1)]
        self.ups = nn.ModuleList()
        prev = level_channels[depth]
        for level in reversed(range(depth)):
            out = channels(level)
            self.ups.append(ScaleModule(prev, out, "up", inception, residual, encoder=False))
            prev = out + (level_channels[level] if skip else 0)
        self.finish = nn.Sequential(nn.BatchNorm2d(prev), nn.ReLU())
        self.head = OutputHead(head, prev)
        init_weights(self)
        self.head.reset()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        levels: list[list[torch.Tensor]] = [[] for _ in range(self.depth + 1)]
        scaled = x
        for b, (stem, downs) in enumerate(zip(self.stems, self.branches)):
            if b:
                scaled = self.pool(scaled)
            y = stem(scaled)
            levels[b].append(y)
            for j, down in enumerate(downs):
                y = down(y)
                levels[b + j + 1].append(y)
        y = torch.cat(levels[self.depth], dim=1)
        for up, level in zip(self.ups, reversed(range(self.depth))):
            y = up(y)
            if self.skip:
                y = torch.cat([y, *levels[level]], dim=1)
        return self.head(self.finish(y), x)[..., :h, :w]

    def use_frame_statistics(self, enabled: bool = True) -> None:
        """Normalise with each frame's own batch-norm statistics at recall instead of the running
        averages: Limmer & Lensch found the running averages distorted their outputs
        (`benchmarks/bn_recall.py` measures whether that holds here)."""
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.track_running_stats = not enabled
                if enabled:
                    m.running_mean = m.running_var = None


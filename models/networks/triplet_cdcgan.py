"""Triplet conditional DCGAN generator (Suarez, Sappa & Vintimilla, CVPR workshops 2017).

Three generators, one per output channel (R, G, B), each a stack of 3x3 convolutions with
batch norm and leaky ReLU 0.2, no pooling and stride 1 throughout, so the spatial layout is
kept and the network is fully convolutional (it runs on whole frames); the NIR input is joined
again at the red channel's last layer, because the NIR's spectral contribution is largest in
red. While training, Gaussian noise is added to each generator's input (the paper's standard
deviations 0.00011, 0.00012, 0.00013 on inputs in [-1, 1]). The paper's fully connected
layers are left out: they would fix the patch size at 64x64, and a whole frame is the input here.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import OutputHead, init_weights, pad_to_multiple

PAPER_NOISE = (0.00011, 0.00012, 0.00013)


def _conv_bn_lrelu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))


class ChannelGenerator(nn.Module):
    """One channel's generator: `layers` 3x3 convolutions of `width` channels, then the head."""

    def __init__(self, width: int, layers: int, head: str, in_channels: int, rejoin_input: bool, out_channels: int = 1):
        super().__init__()
        self.rejoin_input = rejoin_input
        self.body = nn.Sequential(*(_conv_bn_lrelu(in_channels if i == 0 else width, width) for i in range(layers)))
        self.head = OutputHead(head, width + (in_channels if rejoin_input else 0), out_channels=out_channels)

    def forward(self, noisy: torch.Tensor, nir: torch.Tensor) -> torch.Tensor:
        y = self.body(noisy)
        if self.rejoin_input:
            y = torch.cat([y, noisy], dim=1)
        return self.head(y, nir)


class TripletCDCGAN(nn.Module):
    """The triplet generator.

    Options:
        width: channels of each generator's layers.
        layers: 3x3 convolution layers per generator before its last layer (receptive field
            2 * layers + 3 pixels at the working size).
        noise: standard deviation of the training noise per generator (R, G, B), on [-1, 1].
        head: `nir_residual` (default; starts as NIR-as-grey) or `tanh` (the paper's).
        in_channels: NIR bands.
        flat: one generator of `width` channels for all three outputs instead of the triplet (the
            single-DCGAN comparison of the paper, for the ablation); its noise is the first level.
    """

    def __init__(self, width: int = 32, layers: int = 6, noise: tuple[float, float, float] | list[float] = PAPER_NOISE,
                 head: str = "nir_residual", in_channels: int = 1, flat: bool = False):
        super().__init__()
        if width < 1 or layers < 1 or len(noise) != 3:
            raise ValueError(f"TripletCDCGAN needs width >= 1, layers >= 1 and 3 noise levels, got {width}, {layers}, {noise}")
        self.multiple = 1
        self.noise = tuple(float(n) for n in noise)
        if flat:
            self.noise = self.noise[:1]
            self.generators = nn.ModuleList([ChannelGenerator(width, layers, head, in_channels, rejoin_input=True, out_channels=3)])
        else:
            self.generators = nn.ModuleList(ChannelGenerator(width, layers, head, in_channels, rejoin_input=c == 0) for c in range(3))
        init_weights(self)
        for g in self.generators:
            g.head.reset()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        outs = []
        for generator, sigma in zip(self.generators, self.noise):
            # Noise in the [-1, 1] range the paper gives it for (half of it on our [0, 1] input).
            noisy = x + (0.5 * sigma) * torch.randn_like(x) if self.training and sigma > 0 else x
            outs.append(generator(noisy, x))
        return torch.cat(outs, dim=1)[..., :h, :w]

    def l1_regularized(self) -> list[torch.Tensor]:
        """The weights of the single layer the paper's L1 regulariser acts on: each generator's
        first convolution, which decides what of the NIR it uses."""
        return [g.body[0][0].weight for g in self.generators]

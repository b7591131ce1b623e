"""What `nircolor run` shows, as one PyTorch module and so as one exported graph.

uint8 NIR N x 1 x H x W at any H and W -> uint8 RGB N x H x W x 3 at the same size:

1. the working-size downscale: the long side to the model's `infer_size` (never up), with an
   antialiased bilinear resize (ONNX Resize with antialias, opset 18);
2. padding to the network's multiple by reflection, as the network's own padding does (the
   network's colours depend on it: edge replication moved a 100x100 frame by 21 dB), and the
   crop back;
3. the network;
4. the fast guided upsampling to the frame's size, guided by the full-resolution NIR frame
   (models.upsample explains why), with box filters as reflect-padded average pools;
5. rounding to uint8 and the transpose to interleaved RGB.

Sizes are computed from the input's shape with symbolic integer arithmetic (torch.sym_max and
sym_min), so `torch.export` keeps H and W dynamic and the ONNX graph admits any frame size: a
consumer (ONNX Runtime, TensorRT, Triton, DeepStream) hands it the camera's frame and gets the
colour frame nircolor shows. No Python `if` depends on a size, because an export would freeze it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nircolor.runtime import frames_torch

from . import filters
from .checkpoint import INPUT_RANGE, OUTPUT_RANGE, ModelCard
from .upsample import GuidedUpsampling, frame_min_side


class FrameGraph(nn.Module):
    radius_default, eps_default = GuidedUpsampling.radius, GuidedUpsampling.eps

    def __init__(self, net: nn.Module, pad_multiple: int, infer_size: int | None, compute: torch.dtype = torch.float32,
                 radius: int = GuidedUpsampling.radius, eps: float = GuidedUpsampling.eps,
                 input_range: tuple[float, float] = INPUT_RANGE, output_range: tuple[float, float] = OUTPUT_RANGE):
        super().__init__()
        self.min_side = frame_min_side(pad_multiple)
        self.net = net.to(compute)
        self.multiple, self.infer_size, self.compute = pad_multiple, infer_size, compute
        self.radius, self.eps = radius, eps
        self.input_range, self.output_range = tuple(input_range), tuple(output_range)

    @classmethod
    def for_card(cls, net: nn.Module, card: ModelCard, compute: torch.dtype = torch.float32) -> "FrameGraph":
        """The frame graph of a loaded checkpoint: padding, working size and value ranges from its card."""
        return cls(net, card.pad_multiple, card.infer_size, compute, input_range=card.input_range, output_range=card.output_range)

    def _network(self, nir01: torch.Tensor) -> torch.Tensor:
        """N x 1 x h x w in [0, 1] -> N x 3 x h x w in [0, 1]: padded to the multiple, cropped back."""
        h, w = nir01.shape[-2], nir01.shape[-1]
        # Reflection needs pad < side: true for every side >= self.min_side.
        padded = frames_torch.pad_to_multiple(nir01, self.multiple)
        y = self.net(frames_torch.unit_to_network(padded.to(self.compute), self.input_range))
        return frames_torch.network_to_unit(y[:, :, :h, :w], self.output_range)

    def _guided(self, colour: torch.Tensor, guide: torch.Tensor, levels: torch.Tensor, scaled) -> torch.Tensor:
        """colour = a * guide + b fitted at low resolution, applied to the full-resolution NIR;
        returned on [0, 255] (`levels` is the NIR frame on [0, 255]).

        `scaled` is 1 when the frame was downscaled and 0 when the network saw it at its own size;
        then the gain is 0 and the offset the network's colour itself, so the same full-resolution
        work gives the colour unchanged. (Blending a separately upsampled colour at full resolution
        cost a third of a 1080p frame.) Both scalings by 255 are folded into the small offset: at
        full resolution only the upsampling, one multiply-add and the uint8 conversion remain."""
        a, b = filters.guided_fit(guide, colour, self.radius, self.eps**2)
        # 255 * (a * levels / 255 + b) = a * levels + 255 * b
        gain_small = a * scaled
        offset_small = (colour + (b - colour) * scaled) * 255.0
        size = (levels.shape[-2], levels.shape[-1])
        gain = F.interpolate(gain_small, size=size, mode="bilinear", align_corners=False)
        offset = F.interpolate(offset_small, size=size, mode="bilinear", align_corners=False)
        return gain * levels + offset

    def forward(self, nir: torch.Tensor) -> torch.Tensor:
        if not self.infer_size:
            return frames_torch.unit_to_rgb(self._network(frames_torch.nir_to_network(nir, (0.0, 1.0))))
        levels = nir.to(torch.float32)  # the guide at full resolution, on [0, 255]
        small = self.working_frame(levels)
        colour_small = self._network(small)
        # Frames at or under the working size are shown as the network gives them; larger ones
        # are restored by the guided filter. A 0/1 factor from the sizes, not an `if`.
        longest = torch.sym_max(nir.shape[-2], nir.shape[-1])
        scaled = torch.sym_min(longest - torch.sym_min(longest, self.infer_size), 1)
        return frames_torch.levels_to_rgb(self._guided(colour_small, small, levels, scaled))

    def working_frame(self, levels: torch.Tensor) -> torch.Tensor:
        """N x C x H x W on [0, 255] -> the frame the network sees: the long side at most
        `infer_size` (never up), antialiased bilinear, on [0, 1]."""
        h, w = levels.shape[-2], levels.shape[-1]
        longest = torch.sym_max(h, w)
        target = torch.sym_min(longest, self.infer_size)
        small_h = (h * target + longest // 2) // longest
        small_w = (w * target + longest // 2) // longest
        # Resized on [0, 255], then scaled to [0, 1] at the small size (resizing is linear).
        return F.interpolate(levels, size=(small_h, small_w), mode="bilinear", antialias=True, align_corners=False) / 255.0

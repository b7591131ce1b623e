"""Image filters as PyTorch ops, so that they run inside an exported graph (ONNX, TensorRT):
a box mean, the guided filter's local fit (the frame graph's upsampling uses it too), a per-frame
noise estimate and an edge-preserving denoise that takes its strength from it.

Why a denoise in front of the network: the colour head multiplies the NIR pixel (RGB = (1 + gain)
* NIR + offset), so a night camera's sensor noise at high gain reaches the colour unfiltered and
flickers from frame to frame. A self-guided filter (He et al., "Guided Image Filtering", 2010, the
guide being the frame itself) flattens what varies less than its regularisation and keeps edges
that vary more. The regularisation is set per frame from Immerkaer's noise estimate ("Fast Noise
Variance Estimation", 1996): a clean daytime frame is barely touched, a noisy night frame is
smoothed as much as its noise asks for.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Immerkaer's mask: the difference of two Laplacians, blind to planes and to linear ramps.
_NOISE_MASK = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, borders reflected as OpenCV's boxFilter does."""
    r = radius
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="reflect"), 2 * r + 1, stride=1)


def noise_sigma(x: torch.Tensor) -> torch.Tensor:
    """Standard deviation of additive white noise in each N x 1 x H x W frame, in x's units
    (N x 1 x 1 x 1). Texture counts a little as noise; that only makes the denoise a little
    stronger on busy frames. Frames need H, W >= 3."""
    mask = torch.tensor(_NOISE_MASK, dtype=x.dtype, device=x.device).view(1, 1, 3, 3)
    return F.conv2d(x, mask).abs().mean(dim=(1, 2, 3), keepdim=True) * (math.sqrt(math.pi / 2) / 6)


def guided_fit(guide: torch.Tensor, source: torch.Tensor, radius: int, eps: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The guided filter's local model source = a * guide + b (He et al.), fitted in every
    (2r+1)^2 window with regularisation eps and averaged over the windows covering each pixel:
    returns (mean a, mean b). The filtered source is mean_a * guide + mean_b, at this size or
    with both upsampled to a larger guide's."""
    guide_mean, source_mean = box_mean(guide, radius), box_mean(source, radius)
    guide_var = box_mean(guide * guide, radius) - guide_mean * guide_mean
    cov = guide_var if source is guide else box_mean(guide * source, radius) - guide_mean * source_mean
    a = cov / (guide_var + eps)
    return box_mean(a, radius), box_mean(source_mean - a * guide_mean, radius)


def denoise(x: torch.Tensor, strength: float, radius: int = 1, floor: float = 0.0) -> torch.Tensor:
    """Self-guided filter of N x 1 x H x W frames with regularisation strength^2 * (sigma^2 -
    floor^2), sigma each frame's own noise estimate (x's units): a window whose variance is well
    above that keeps its pixels, a flatter one goes to its mean. `floor` is the estimate a clean
    frame's texture gives: frames that read no more than that are left as they are. Frames need
    H, W > radius (reflection)."""
    sigma = noise_sigma(x)
    if not floor:
        # + 1e-12: a constant frame has variance = eps = 0
        a, b = guided_fit(x, x, radius, (strength * sigma) ** 2 + 1e-12)
        return a * x + b
    excess = torch.clamp(sigma * sigma - floor * floor, min=0.0)
    # A frame at the floor is passed through, not filtered with eps near 0: a flat window's
    # variance then rounds to +-1e-9 and var / (var + eps) is anything. Just above the floor the
    # regularisation is at least half a grey level's variance, far above that rounding.
    a, b = guided_fit(x, x, radius, strength * strength * excess + (0.5 / 255) ** 2)
    return torch.where(excess > 0, a * x + b, x)

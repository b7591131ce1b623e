"""Training objectives.

SNet (Dong et al., eqs. 1-7): L = L_color + L_edge, both L2; L_edge compares EdgeNet applied to
the difference map ColorNet(x) - y with the edge map of y. We average over pixels instead of
summing (the same minimiser; it keeps the learning rate independent of the crop size).

U-Net and Estuary (Limmer & Lensch, eq. 3): L1, optionally L_G = (1 - lambda) L_adv + lambda L1
with a discriminator conditioned on the NIR input, and one-sided label smoothing for it.

Two-branch (Park et al., eqs. 1-6): L_content (L1, then 0.1 (1 - SSIM) for the last part of
training) + L_struct + L_cross-branch + L_gradient.

Every objective is called as objective(pred, rgb, edges, extras, progress): `extras` holds what
a network's `training_outputs` gives beside the RGB output, `progress` runs from 0 to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .augment import FULL_WELL


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Differentiable Gaussian SSIM (11x11, sigma 1.5) of NxCxHxW images in [-1, 1], border of 5
    excluded: `metrics.ssim`'s definition (SSIM is not shift-invariant, so the images are first
    mapped to [0, 1] like 8-bit pixels), written as separable 1-D convolutions to stay cheap."""
    pred, target = (pred + 1) / 2, (target + 1) / 2
    data_range = 1.0
    c = pred.shape[1]
    win = _gaussian_window().to(pred)
    wx, wy = win.view(1, 1, 1, -1).repeat(c, 1, 1, 1), win.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, wx, groups=c), wy, groups=c)  # 'valid': crops the border

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(pred), blur(target)
    vx, vy, cxy = blur(pred * pred) - mx * mx, blur(target * target) - my * my, blur(pred * target) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


@dataclass
class LossTerms:
    total: torch.Tensor
    parts: dict[str, float]


class SNetObjective(nn.Module):
    def __init__(self, edgenet: nn.Module, edge_weight: float = 1.0, ssim_weight: float = 0.0, angular_weight: float = 0.0):
        super().__init__()
        self.edgenet = edgenet
        self.edge_weight = edge_weight
        self.ssim_weight = ssim_weight
        self.angular_weight = angular_weight

    def forward(self, pred: torch.Tensor, rgb: torch.Tensor, edges: torch.Tensor, extras: dict | None = None, progress: float = 0.0) -> LossTerms:
        color = F.mse_loss(pred, rgb)
        edge = F.mse_loss(self.edgenet(pred - rgb), edges)
        terms = LossTerms(color + self.edge_weight * edge, {"color": color.item(), "edge": edge.item()})
        return _add_angular(_add_ssim(terms, pred, rgb, self.ssim_weight), pred, rgb, self.angular_weight)


def mean_psnr_loss(pred: torch.Tensor, rgb: torch.Tensor, floor: float = 1e-4) -> torch.Tensor:
    """A loss whose gradient is that of the batch's mean PSNR, scaled to the mean squared error's.

    The benchmark averages PSNR over images, i.e. -10 log10 of each image's MSE: an image already
    close counts as much as one far off, where the plain MSE lets the worst crops of a batch take
    the gradient. d log(m_i) = dm_i / m_i, so each crop's MSE is weighted by mean(m) / m_i (weights
    held constant): on a batch of equal errors this is the plain MSE, gradient and value. `floor`
    (40 dB) keeps a nearly perfect crop from taking the whole batch."""
    per_crop = (pred - rgb).pow(2).flatten(1).mean(dim=1).clamp_min(floor)
    weights = (per_crop.mean() / per_crop).detach()
    return (weights * per_crop).mean()


PIXEL_LOSSES = {1: ("l1", F.l1_loss), 2: ("l2", F.mse_loss), "psnr": ("psnr", mean_psnr_loss)}


class L1Objective(nn.Module):
    """A pixel loss, L1 (the papers'), L2 (`norm=2`: the mean squared error, so a model that cannot
    know a scene's exposure learns the brightness that costs least on average rather than the
    median one) or the mean PSNR over the batch's crops (`norm="psnr"`: what the benchmark
    averages), plus the optional SSIM and angular terms."""

    def __init__(self, ssim_weight: float = 0.0, angular_weight: float = 0.0, norm: int | str = 1):
        super().__init__()
        if norm not in PIXEL_LOSSES:
            raise ValueError(f"pixel loss norm must be one of {', '.join(map(str, PIXEL_LOSSES))}, got {norm!r}")
        self.ssim_weight = ssim_weight
        self.angular_weight = angular_weight
        self.norm = norm

    def forward(self, pred: torch.Tensor, rgb: torch.Tensor, edges: torch.Tensor, extras: dict | None = None, progress: float = 0.0) -> LossTerms:
        name, loss = PIXEL_LOSSES[self.norm]
        pixel = loss(pred, rgb)
        terms = _add_ssim(LossTerms(pixel, {name: pixel.item()}), pred, rgb, self.ssim_weight)
        return _add_angular(terms, pred, rgb, self.angular_weight)


def rgb_to_grey(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of an Nx3xHxW image (any range): Nx1xHxW."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


class TwoBranchObjective(nn.Module):
    """Park et al.'s loss for `two_branch` (eq. 6), with their weights of 0.1 on the SSIM terms:

    - L_content: L1 of the RGB output; for the last `ssim_share` of training (their last 2,500
      of 4,000 epochs) 0.1 (1 - SSIM) instead.
    - L_struct: 0.1 (1 - SSIM) between the grey branch and the target's grey.
    - L_cross-branch: 0.1 (1 - SSIM) between the grey branch and the RGB output's grey.
    - L_gradient: mean |grad NIR - s * grad grey| with the Sobel gradient and the scale map s.
    """

    def __init__(self, ssim_share: float = 0.625, ssim_weight: float = 0.0, angular_weight: float = 0.0):
        super().__init__()
        if not 0.0 <= ssim_share <= 1.0:
            raise ValueError(f"the SSIM share of training must be within [0, 1], got {ssim_share}")
        self.ssim_share = ssim_share
        self.ssim_weight = ssim_weight
        self.angular_weight = angular_weight

    def forward(self, pred: torch.Tensor, rgb: torch.Tensor, edges: torch.Tensor, extras: dict | None = None, progress: float = 0.0) -> LossTerms:
        if not extras or "grey" not in extras:
            raise ValueError("the two_branch objective needs the grey branch: train it with --arch two_branch")
        grey = extras["grey"]
        if progress < 1.0 - self.ssim_share:
            content = F.l1_loss(pred, rgb)
        else:
            content = 0.1 * (1.0 - ssim(pred, rgb))
        struct = 0.1 * (1.0 - ssim(grey, rgb_to_grey(rgb)))
        cross = 0.1 * (1.0 - ssim(grey, rgb_to_grey(pred)))
        gradient = F.l1_loss(extras["scaled_grey_gradient"], extras["nir_gradient"])
        parts = {"content": content.item(), "struct": struct.item(), "cross": cross.item(), "gradient": gradient.item()}
        terms = _add_ssim(LossTerms(content + struct + cross + gradient, parts), pred, rgb, self.ssim_weight)
        return _add_angular(terms, pred, rgb, self.angular_weight)


def angular_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel angle (radians) between the RGB vectors of NxCxHxW images in [-1, 1]: the
    hue-and-saturation error that `metrics.angular_error` reports, blind to brightness. The
    cosine is kept off 1 so the arccosine's gradient stays finite."""
    p, t = (pred + 1) / 2 + 1e-3, (target + 1) / 2 + 1e-3
    cos = F.cosine_similarity(p, t, dim=1).clamp(-1 + 1e-6, 1 - 1e-6)
    return torch.acos(cos).mean()


def _add_angular(terms: LossTerms, pred: torch.Tensor, rgb: torch.Tensor, weight: float) -> LossTerms:
    """Optional colour-fidelity term weight * angular error: pixel losses are dominated by
    brightness, so a right brightness with a wrong hue costs them little."""
    if weight <= 0:
        return terms
    angle = angular_error(pred, rgb)
    terms.parts["angle_deg"] = float(torch.rad2deg(angle).item())
    return LossTerms(terms.total + weight * angle, terms.parts)


def _add_ssim(terms: LossTerms, pred: torch.Tensor, rgb: torch.Tensor, weight: float) -> LossTerms:
    """Optional structural term weight * (1 - SSIM): rewards keeping local structure, which
    pixel losses alone let blur away on a small data set."""
    if weight <= 0:
        return terms
    structural = 1.0 - ssim(pred, rgb)
    terms.parts["ssim"] = 1.0 - structural.item()
    return LossTerms(terms.total + weight * structural, terms.parts)


def generator_adversarial(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss for the generator."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor, real_label: float = 0.9) -> torch.Tensor:
    """Discriminator loss with one-sided label smoothing (real targets 0.9, fake 0)."""
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
    fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return 0.5 * (real + fake)


class NoiseConsistency:
    """How much the colour moves when the NIR gets a night camera's sensor noise.

    A crop of part of the batch is coloured twice: as it is (no gradient: the target) and with
    fresh Poisson-Gaussian noise of an analogue gain drawn up to `max_gain` (models.augment.noise
    in torch: variance x * gain / FULL_WELL + read^2 in [0, 1] units, then uint8 quantisation).
    The term is the mean squared difference. Noise in --augment is drawn on a third of the crops
    and only ever compared with the clean target, so the network learns to pass it on; this asks
    for the same colour whatever the noise, which is what a steady video needs. A small crop of
    a few images keeps the extra passes to about a fifth of a step."""

    def __init__(self, crop: int = 128, images: int = 4, max_gain: float = 8.0, max_read: float = 3.0, seed: int = 0):
        self.crop, self.images, self.max_gain, self.max_read = crop, images, max_gain, max_read
        self.generator = torch.Generator().manual_seed(seed)

    def noisy(self, nir01: torch.Tensor) -> torch.Tensor:
        x = nir01.float()
        draw = torch.rand(x.shape[0], 2, 1, 1, 1, generator=self.generator)
        gain = 1 + (self.max_gain - 1) * draw[:, 0]
        read = self.max_read * draw[:, 1] / 255.0
        sigma = torch.sqrt(x.clamp(min=0) * gain / FULL_WELL + read * read)
        noisy = x + torch.randn(x.shape, generator=self.generator) * sigma
        return (torch.round(noisy.clamp(0, 1) * 255) / 255).to(nir01)

    def __call__(self, model: nn.Module, nir01: torch.Tensor) -> torch.Tensor:
        n, _, h, w = nir01.shape
        size = min(self.crop, h, w)
        top = int(torch.randint(0, h - size + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, w - size + 1, (1,), generator=self.generator))
        crop = nir01[: min(self.images, n), :, top:top + size, left:left + size]
        with torch.no_grad():
            clean = model(crop)
        return F.mse_loss(model(self.noisy(crop)), clean)

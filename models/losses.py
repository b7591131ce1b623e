"""Training objectives.

SNet (Dong et al., eqs. 1-7): L = L_color + L_edge, both L2; L_edge compares EdgeNet applied to
the difference map ColorNet(x) - y with the edge map of y. We average over pixels instead of
summing (the same minimiser; it keeps the learning rate independent of the crop size).

U-Net (Limmer & Lensch, eq. 3): L1, optionally L_G = (1 - lambda) L_adv + lambda L1 with a
discriminator conditioned on the NIR input, and one-sided label smoothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class LossTerms:
    total: torch.Tensor
    parts: dict[str, float]


class SNetObjective(nn.Module):
    def __init__(self, edgenet: nn.Module, edge_weight: float = 1.0):
        super().__init__()
        self.edgenet = edgenet
        self.edge_weight = edge_weight

    def forward(self, pred: torch.Tensor, rgb: torch.Tensor, edges: torch.Tensor) -> LossTerms:
        color = F.mse_loss(pred, rgb)
        edge = F.mse_loss(self.edgenet(pred - rgb), edges)
        total = color + self.edge_weight * edge
        return LossTerms(total, {"color": color.item(), "edge": edge.item()})


class L1Objective(nn.Module):
    def forward(self, pred: torch.Tensor, rgb: torch.Tensor, edges: torch.Tensor) -> LossTerms:
        l1 = F.l1_loss(pred, rgb)
        return LossTerms(l1, {"l1": l1.item()})


def generator_adversarial(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss for the generator."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor, real_label: float = 0.9) -> torch.Tensor:
    """Discriminator loss with one-sided label smoothing (real targets 0.9, fake 0)."""
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
    fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return 0.5 * (real + fake)

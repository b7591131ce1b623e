"""Explicit registry of generator architectures: `create(name, **options)`."""

from __future__ import annotations

from typing import Callable

from torch import nn

from .discriminator import DCGANDiscriminator, PatchDiscriminator, SingleLayerDiscriminator
from .effnet_unet import EffNetUNet
from .estuary import Estuary
from .snet import ColorNet, EdgeNet
from .triplet_cdcgan import TripletCDCGAN
from .two_branch import TwoBranchNet
from .unet import UNet

# name -> constructor; each constructor documents its own options.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "effnet_unet": EffNetUNet,
    "estuary": Estuary,
    "snet": ColorNet,
    "triplet_cdcgan": TripletCDCGAN,
    "two_branch": TwoBranchNet,
    "unet": UNet,
}

# Networks used only as training losses, never shipped for inference.
LOSS_NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "edgenet": EdgeNet,
    "dcgan": DCGANDiscriminator,
    "patchgan": PatchDiscriminator,
    "single_layer": SingleLayerDiscriminator,
}


class UnknownArchitectureError(ValueError):
    pass


def create(name: str, **options) -> nn.Module:
    """Build architecture `name` with its documented options."""
    try:
        factory = ARCHITECTURES[name]
    except KeyError:
        raise UnknownArchitectureError(
            f"unknown architecture {name!r}; choose one of: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        raise UnknownArchitectureError(f"bad options for architecture {name!r}: {exc}") from None


def trains_channels_last(name: str) -> bool:
    """Whether architecture `name` can train in channels-last memory format (see Estuary)."""
    return getattr(ARCHITECTURES.get(name), "trains_channels_last", True)

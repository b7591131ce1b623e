import pytest
import torch

from nircolor.models.networks import ARCHITECTURES, create
from nircolor.models.networks.blocks import count_parameters
from nircolor.models.networks.registry import LOSS_NETWORKS, UnknownArchitectureError


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("size", [(37, 53), (64, 64), (100, 31)])
def test_any_size_maps_to_same_size_rgb_in_tanh_range(name, size):
    net = create(name, width=4).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 1, *size))
    assert y.shape == (2, 3, *size)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_full_hd_frame(name):
    net = create(name, width=4).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 1, 1080, 1920))
    assert y.shape == (1, 3, 1080, 1920)
    assert torch.isfinite(y).all()


def test_snet_paper_width_matches_published_size():
    # docs/design.md: ColorNet width 64, 5 levels is about 31 M parameters; width 16 about 1.9 M.
    assert 30.5e6 < count_parameters(create("snet", width=64)) < 31.5e6
    assert 1.85e6 < count_parameters(create("snet", width=16)) < 1.95e6


def test_snet_structure():
    net = create("snet", width=8, levels=5)
    assert net.multiple == 16
    assert len(net.encoders) == 5 and len(net.decoders) == 4
    assert isinstance(net.head[-1], torch.nn.Tanh)


def test_unet_padding_multiple_follows_depth():
    assert create("unet", width=4, depth=6).multiple == 64
    assert create("unet", width=4, depth=4).multiple == 16


def test_edgenet_maps_difference_to_edge_shape():
    net = LOSS_NETWORKS["edgenet"](width=8).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 30, 46))
    assert out.shape == (2, 3, 30, 46)


def test_skip_connections_carry_full_resolution_detail():
    # A checkerboard must change the output differently from its blurred version at full res:
    # the first encoder block feeds the last decoder block directly.
    net = create("snet", width=4).eval()
    x = torch.zeros(1, 1, 32, 32)
    x[..., ::2, ::2] = 1.0
    with torch.no_grad():
        a, b = net(x), net(torch.full_like(x, x.mean().item()))
    assert (a - b).abs().mean() > 1e-4


def test_unknown_architecture_names_the_choices():
    with pytest.raises(UnknownArchitectureError, match="snet"):
        create("resnet")


def test_bad_options_are_reported():
    with pytest.raises(UnknownArchitectureError, match="bad options"):
        create("snet", widht=16)
    with pytest.raises(UnknownArchitectureError, match="width"):
        create("unet", width=0)

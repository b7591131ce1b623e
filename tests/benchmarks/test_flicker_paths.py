"""benchmarks/flicker_paths.py: the encoder's outputs swapped for those of the noise-free frame."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import flicker_paths  # noqa: E402

from nircolor.models.networks import create  # noqa: E402


def _net(**options):
    net = create("effnet_unet", width=4, context_width=4, **options).eval()
    # FiLM and the head's last layer start at zero (the output is the NIR as grey): give them
    # weights so that what the encoder says reaches the picture.
    with torch.no_grad():
        net.context_squeeze[0].weight.normal_(0, 1, generator=torch.Generator().manual_seed(0))
        for film in [net.bottleneck_film, *(level.film for level in net.levels)]:
            film.weight.fill_(1.0)
        net.pixel_mlp[-1].weight.fill_(0.1)
    return net


def _colour_with(net, swap, clean, shown, taps, head):
    swap.recording = True
    flicker_paths.colour(net, clean)
    swap.recording = False
    swap.use_taps, swap.use_head = taps, head
    out = flicker_paths.colour(net, shown)
    swap.use_taps = swap.use_head = False
    return out


def test_swapped_parts_come_from_the_recorded_frame_and_nothing_else_changes():
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 200, (64, 96), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    for options in ({}, {"flip_average": True}):
        net = _net(**options)
        swap = flicker_paths.EncoderSwap(net.encoder)
        plain_noisy = flicker_paths.colour(net, noisy)
        # Swapping in a frame's own encoder outputs changes nothing; the hook is idle otherwise.
        np.testing.assert_array_equal(_colour_with(net, swap, noisy, noisy, True, True), plain_noisy)
        np.testing.assert_array_equal(flicker_paths.colour(net, noisy), plain_noisy)
        # Another frame's whole encoder, the noisy frame's pixels: neither picture. (An untrained
        # encoder's pooled context barely tells a frame from its noisy copy: a brighter frame does.)
        other = np.clip(clean.astype(int) * 2 - 60, 0, 255).astype(np.uint8)
        both = _colour_with(net, swap, other, noisy, True, True)
        assert not np.array_equal(both, plain_noisy) and not np.array_equal(both, flicker_paths.colour(net, other))


class _Encoder(torch.nn.Module):
    def forward(self, x):
        return [x * 2, x * 3], x.mean(dim=(2, 3), keepdim=True)


def test_each_part_is_swapped_on_its_own():
    """(An untrained EfficientNet's pooled head is the same for any frame, so the parts are
    checked on a stand-in encoder.)"""
    encoder = _Encoder()
    swap = flicker_paths.EncoderSwap(encoder)
    recorded, shown = torch.full((1, 1, 4, 4), 0.25), torch.full((1, 1, 4, 4), 0.75)
    swap.recording = True
    encoder(recorded)
    swap.recording = False
    for taps, head in ((False, False), (False, True), (True, False), (True, True)):
        swap.use_taps, swap.use_head = taps, head
        got_taps, got_head = encoder(shown)
        assert float(got_taps[0].mean()) == (0.5 if taps else 1.5)
        assert float(got_head.mean()) == (0.25 if head else 0.75)

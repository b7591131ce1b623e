"""The frame contract (runtime/frames.py) and its torch twin give the same bits, honour a declared
value range, and every path that turns a network's output into RGB goes through them."""

import numpy as np
import pytest
import torch

from nircolor.models import checkpoint
from nircolor.models.frame_graph import FrameGraph
from nircolor.runtime import frames, frames_torch

RANGES = [(0.0, 1.0), (-1.0, 1.0), (-0.5, 2.5)]


@pytest.mark.parametrize("input_range", RANGES)
def test_nir_scaling_is_the_same_in_numpy_and_torch(input_range):
    nir = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got = frames.nir_to_network(nir, input_range)
    assert got.dtype == np.float32
    assert np.array_equal(got, frames_torch.nir_to_network(torch.from_numpy(nir), input_range).numpy())
    lo, hi = input_range
    assert got[0, 0] == pytest.approx(lo) and got[-1, -1] == pytest.approx(hi)


@pytest.mark.parametrize("output_range", RANGES)
def test_output_scaling_is_the_same_in_numpy_and_torch(output_range):
    lo, hi = output_range
    y = np.random.default_rng(0).uniform(lo - 0.2, hi + 0.2, (2, 3, 9, 7)).astype(np.float32)
    rgb = frames.network_to_rgb(y, output_range)
    assert rgb.shape == (2, 9, 7, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, frames_torch.network_to_rgb(torch.from_numpy(y), output_range).numpy())
    assert np.array_equal(frames.network_to_rgb_float(y, output_range),
                          frames_torch.network_to_rgb_float(torch.from_numpy(y), output_range).numpy())
    ends = np.array([lo, hi], np.float32).reshape(1, 1, 1, 2).repeat(3, axis=1)
    assert frames.network_to_rgb(ends, output_range)[0, 0, 0].tolist() == [0, 0, 0]
    assert frames.network_to_rgb(ends, output_range)[0, 0, 1].tolist() == [255, 255, 255]


def test_training_targets_invert_the_output_scaling():
    rgb = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    for output_range in RANGES:
        target = frames_torch.rgb_to_network(torch.from_numpy(rgb).permute(2, 0, 1)[None], output_range)
        assert np.array_equal(frames_torch.network_to_rgb(target, output_range)[0].numpy(), rgb)


def test_the_frame_graph_reads_the_cards_ranges():
    """A network declared on [0, 2] out: the frame graph maps its output 1.0 to mid-grey, not white."""

    class Constant(torch.nn.Module):
        multiple = 1

        def forward(self, x):
            return torch.ones(x.shape[0], 3, x.shape[2], x.shape[3])

    card = checkpoint.ModelCard(architecture="constant", options={}, pad_multiple=1, output_range=(0.0, 2.0))
    out = FrameGraph.for_card(Constant(), card)(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    assert out.dtype == torch.uint8 and int(out[0, 0, 0, 0]) == 128
    default = FrameGraph(Constant(), 1, None)(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    assert int(default[0, 0, 0, 0]) == 255  # on the default [-1, 1], 1.0 is white


def test_odd_frames_grow_to_even_sizes_for_420_video():
    rgb = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    even = frames.pad_to_even(rgb)
    assert even.shape == (4, 6, 3) and np.array_equal(even[:3, :5], rgb)
    assert np.array_equal(even[3, :5], rgb[2]) and np.array_equal(even[:3, 5], rgb[:, 4])
    same = np.zeros((4, 6, 3), np.uint8)
    assert frames.pad_to_even(same) is same
    assert frames.even_size(5, 3) == (6, 4) and frames.even_size(640, 480) == (640, 480)

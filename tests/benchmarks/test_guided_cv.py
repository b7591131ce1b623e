"""benchmarks/guided_cv.py: each upsampling setting restores the frame as the exported graph would."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import guided_cv  # noqa: E402

from nircolor.models.frame_graph import FrameGraph  # noqa: E402
from nircolor.models.networks import create  # noqa: E402


def test_each_setting_is_the_frame_graph_with_that_radius_and_eps():
    net = create("effnet_unet", width=4, context_width=4).eval()
    with torch.no_grad():
        net.pixel_mlp[-1].weight.fill_(0.1)  # a colour that is not the NIR as grey
    rng = np.random.default_rng(0)
    nir = rng.integers(0, 256, (90, 150), dtype=np.uint8)
    choices = guided_cv.settings([2, 8], [0.01, 0.1])
    graph = FrameGraph(net, net.multiple, infer_size=64)
    got = guided_cv.restorations(graph, nir, choices)
    assert set(got) == set(choices)
    assert (graph.radius, graph.eps) == (FrameGraph.radius_default, FrameGraph.eps_default)
    for radius, eps in choices[:-1]:
        with torch.inference_mode():
            want = FrameGraph(net, net.multiple, infer_size=64, radius=radius, eps=eps)(torch.from_numpy(nir)[None, None])[0].numpy()
        np.testing.assert_array_equal(got[(radius, eps)], want)
    # The settings differ from each other, and bilinear has no NIR structure of its own.
    assert not np.array_equal(got[(2, 0.01)], got[(8, 0.1)])
    assert got[guided_cv.BILINEAR].shape == (90, 150, 3)
    assert not np.array_equal(got[guided_cv.BILINEAR], got[(2, 0.01)])


def test_the_truth_is_restored_instead_of_the_network_when_given():
    net = create("effnet_unet", width=4, context_width=4).eval()
    rng = np.random.default_rng(1)
    nir = rng.integers(0, 256, (90, 150), dtype=np.uint8)
    yy, xx = np.mgrid[0:90, 0:150]
    truth = np.stack([xx * 255 // 149, yy * 255 // 89, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    graph = FrameGraph(net, net.multiple, infer_size=64)
    got = guided_cv.restorations(graph, nir, guided_cv.settings([8], [0.01]), truth=truth)
    # A smooth colour survives the working size: bilinear gives it back to within a few levels.
    assert np.abs(got[guided_cv.BILINEAR].astype(int) - truth).max() <= 6
    assert not np.array_equal(got[(8, 0.01)], guided_cv.restorations(graph, nir, [(8, 0.01)])[(8, 0.01)])

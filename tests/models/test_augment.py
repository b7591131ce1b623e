import random

import numpy as np
import pytest

from nircolor.models.augment import DEGRADATIONS, NightCamera, exposure, falloff, h264, motion_blur, noise
from nircolor.models.data import read_nir


@pytest.fixture
def nir(fixture_pairs):
    return read_nir(fixture_pairs / "forest" / "0001_nir.jpg")


def test_each_degradation_is_seeded_and_changes_the_frame(nir):
    for d in DEGRADATIONS:
        a, b = d.apply(nir, seed=5), d.apply(nir, seed=5)
        assert a.shape == nir.shape and a.dtype == np.uint8
        assert np.array_equal(a, b), d.name
        assert np.abs(a.astype(int) - nir).mean() > 1.0, d.name


def test_falloff_darkens_edges_and_the_far_top_not_the_lamp_centre():
    flat = np.full((90, 120), 200, np.uint8)
    lit = falloff(flat, edge=0.5, distance=0.5)
    assert lit[0, 0] < lit[-1, 60] and lit[0, 60] < lit[-1, 60]
    assert lit[int(0.55 * 90), 66] > lit[int(0.55 * 90), 0] and lit[-1, 66] > lit[-1, 0]


def test_noise_grows_with_gain_and_exposure_scales():
    flat = np.full((64, 64), 128, np.uint8)
    rng = np.random.default_rng(0)
    assert noise(flat, 8.0, 0.0, rng).std() > 2 * noise(flat, 1.0, 0.0, rng).std()
    assert abs(int(exposure(flat, 0.5)[0, 0]) - 64) <= 1


def test_motion_blur_smears_an_edge_and_h264_keeps_the_size():
    step = np.zeros((31, 33), np.uint8)
    step[:, 16:] = 255
    blurred = motion_blur(step, 9, 0.0)
    assert 0 < blurred[10, 14] < 255
    out = h264(step, 30)
    assert out.shape == step.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - step).mean() < 40


def test_night_camera_at_zero_strength_is_the_identity(nir):
    rng = random.Random(0)
    assert NightCamera(0.0)(nir, rng) is nir
    changed = sum(not np.array_equal(NightCamera(1.0, p=0.9)(nir, rng), nir) for _ in range(5))
    assert changed >= 4

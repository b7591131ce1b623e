import cv2
import numpy as np
import pytest
import torch

from nircolor.models import filters
from nircolor.models.augment import noise
from nircolor.models.metrics import psnr
from nircolor.models.pairs import read_nir
from nircolor.models.zoo import SAMPLES_DIR


def _frame(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32) / 255.0)[None, None]


def _uint8(x: torch.Tensor) -> np.ndarray:
    return np.clip(x[0, 0].numpy() * 255, 0, 255).round().astype(np.uint8)


def _grey_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(np.repeat(a[..., None], 3, axis=2), np.repeat(b[..., None], 3, axis=2))


def _sample_nir() -> np.ndarray:
    nir = read_nir(next(SAMPLES_DIR.rglob("*_nir.*")))
    return cv2.resize(nir, (384, round(384 * nir.shape[0] / nir.shape[1])), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_the_noise_estimate_finds_the_noise_of_a_smooth_frame(sigma):
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(60, 190, 200), (150, 1))  # a ramp: the estimate's mask ignores it
    x = torch.from_numpy((ramp + rng.normal(0, sigma, ramp.shape)) / 255.0).float()[None, None]
    assert float(filters.noise_sigma(x)) * 255 == pytest.approx(sigma, rel=0.1)


def test_the_denoise_flattens_noise_and_keeps_an_edge():
    rng = np.random.default_rng(1)
    clean = np.full((120, 120), 70.0)
    clean[:, 60:] = 180.0
    noisy = torch.from_numpy((clean + rng.normal(0, 6, clean.shape)) / 255.0).float()[None, None]
    out = filters.denoise(noisy, 1.5)[0, 0].numpy() * 255
    flat_before = (noisy[0, 0].numpy() * 255)[:, 5:55].std()
    assert out[:, 5:55].std() < 0.6 * flat_before and out[:, 65:115].std() < 0.6 * flat_before
    # The step stays a step: the columns beside it keep their levels.
    assert out[:, 58].mean() == pytest.approx(70, abs=2) and out[:, 61].mean() == pytest.approx(180, abs=2)


def test_a_clean_frame_is_barely_touched_and_a_noisy_one_is_brought_back_towards_it():
    """A real NIR frame at the working size: the denoise keeps it within 35 dB; with a night
    camera's noise added (gain 4) the denoised frame is closer to the clean one than the noisy one is."""
    clean = _sample_nir()
    assert _grey_psnr(_uint8(filters.denoise(_frame(clean), 1.25)), clean) > 35
    noisy = noise(clean, gain=4.0, read_sigma=2.0, rng=np.random.default_rng(2))
    denoised = _uint8(filters.denoise(_frame(noisy), 1.25))
    assert _grey_psnr(denoised, clean) > _grey_psnr(noisy, clean) + 1.0


def test_the_floor_leaves_a_frame_that_reads_below_it_untouched():
    """`floor` is the noise estimate a clean frame's texture gives: at or under it nothing is
    smoothed; a frame that reads well above it still is."""
    rng = np.random.default_rng(4)
    ramp = np.tile(np.linspace(60, 190, 120), (90, 1))
    quiet = torch.from_numpy((ramp + rng.normal(0, 2, ramp.shape)) / 255.0).float()[None, None]
    loud = torch.from_numpy((ramp + rng.normal(0, 9, ramp.shape)) / 255.0).float()[None, None]
    floor = 4.5 / 255
    assert torch.equal(filters.denoise(quiet, 6.0, floor=floor), quiet)
    assert not torch.allclose(filters.denoise(quiet, 6.0), quiet, atol=1e-3)  # without the floor it is smoothed
    # A flat frame at the floor (a saturated sky) is not taken apart by rounding.
    flat = torch.full((1, 1, 40, 40), 1.0)
    flat[..., :20] = 0.2
    assert torch.equal(filters.denoise(flat, 6.0, floor=floor), flat)
    residual = (filters.denoise(loud, 6.0, floor=floor) - torch.from_numpy(ramp / 255.0).float()).std()
    assert residual < 0.6 * (loud - torch.from_numpy(ramp / 255.0).float()).std()


def test_a_constant_frame_stays_constant():
    x = torch.full((1, 1, 16, 16), 0.4)
    assert torch.allclose(filters.denoise(x, 2.0), x, atol=1e-6)


def test_the_box_mean_matches_opencv():
    a = np.random.default_rng(3).random((31, 47)).astype(np.float32)
    ours = filters.box_mean(torch.from_numpy(a)[None, None], 3)[0, 0].numpy()
    assert np.allclose(ours, cv2.blur(a, (7, 7), borderType=cv2.BORDER_REFLECT_101), atol=1e-5)

import numpy as np
import pytest
import torch

from nircolor.models import calibration
from nircolor.models.networks import create


def _synthetic_samples(k_true: np.ndarray, images: int = 12, seed: int = 0) -> list[calibration.Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(images):
        # each image its own exposure, so the frame-level features vary between images
        colour = torch.from_numpy(rng.uniform(0.2, 0.6, (1, 3, 16, 24)) * rng.uniform(0.6, 1.2)).float()
        nir = torch.from_numpy(rng.uniform(0.1, 0.6, (1, 1, 16, 24)) * rng.uniform(0.5, 1.5)).float()
        truth = colour + (calibration.features(colour, nir) * torch.from_numpy(k_true).float().view(1, 3, -1, 1, 1)).sum(dim=2)
        samples.append(calibration.sample_of(f"c/{i:04d}", colour, nir, truth, (16, 24), stride=1))
    return samples


def test_fit_finds_the_correction_that_made_the_truth():
    k_true = np.array([[0.02, 0.3, 0.1, -0.2, -0.05], [-0.01, 0.25, 0.2, -0.3, 0.0], [0.0, 0.1, -0.1, -0.1, 0.04]])
    samples = _synthetic_samples(k_true)
    np.testing.assert_allclose(calibration.fit(samples, ridge=0.0), k_true, atol=2e-3)
    k = calibration.fit(samples)  # the ridge only nudges what the data decide
    np.testing.assert_allclose(k, k_true, atol=2e-2)
    assert calibration.mean_psnr(samples, k) > calibration.mean_psnr(samples) + 10


def test_fit_weighs_images_by_their_own_error_as_mean_psnr_does():
    # One image needs a brightness offset of +0.02 and three need none: least squares over pixels
    # would give +0.005 to all; the mean-PSNR fit leaves the three nearly exact.
    colour = torch.full((1, 3, 8, 8), 0.4)
    nir = torch.full((1, 1, 8, 8), 0.4)
    samples = [calibration.sample_of(f"c/{i}", colour, nir, colour + (0.02 if i == 0 else 0.0) + 0.002 * torch.randn(1, 3, 8, 8),
                                     (8, 8), stride=1) for i in range(4)]
    k = calibration.fit(samples)
    plain = np.mean([s.residual.mean() for s in samples])
    assert calibration.mean_psnr(samples, k) > calibration.mean_psnr(samples, np.c_[np.full(3, plain), np.zeros((3, 4))])


def test_samples_survive_a_round_trip_through_their_file(tmp_path):
    samples = _synthetic_samples(np.zeros((3, 5)), images=3)
    calibration.save_samples(tmp_path / "s.npz", samples)
    back = calibration.load_samples(tmp_path / "s.npz")
    assert [s.pair for s in back] == [s.pair for s in samples]
    np.testing.assert_allclose(back[1].features, samples[1].features, atol=1e-3)
    np.testing.assert_allclose(back[2].residual, samples[2].residual, atol=1e-3)


def test_calibrated_network_is_the_uncalibrated_one_corrected_and_has_no_weights_of_its_own():
    k = [[0.01, 0.2, 0.1, -0.1, 0.0], [0.0, 0.1, 0.0, -0.2, 0.02], [-0.02, 0.3, 0.0, 0.0, 0.0]]
    torch.manual_seed(0)
    plain = create("effnet_unet", width=4, context_width=4).eval()
    calibrated = create("effnet_unet", width=4, context_width=4, calibration=k).eval()
    calibrated.load_state_dict(plain.state_dict())  # strict: the same weights, nothing more
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        expected = calibration.apply((plain(x) + 1) / 2, x, torch.tensor(k)) * 2 - 1
        torch.testing.assert_close(calibrated(x), expected)
        torch.testing.assert_close(calibrated.uncalibrated(x), plain(x))
    # With the head's denoise on, the calibration reads the denoised NIR too: no sensor noise added.
    denoised = create("effnet_unet", width=4, context_width=4, denoise=3, calibration=k).eval()
    denoised.load_state_dict(plain.state_dict())
    noisy = torch.clamp(x + 0.05 * torch.randn_like(x), 0, 1)
    with torch.no_grad():
        guide = denoised.calibration_guide(noisy)
        assert (guide - noisy).abs().mean() > 0.01
        expected = calibration.apply((denoised.uncalibrated(noisy) + 1) / 2, guide, torch.tensor(k)) * 2 - 1
        torch.testing.assert_close(denoised(noisy), expected)


@pytest.mark.parametrize("bad", [[[0.0] * 5] * 2, [[0.0] * 4] * 3, [[float("nan")] * 5] * 3, "1,2,3"])
def test_malformed_coefficients_are_refused_with_what_is_expected(bad):
    with pytest.raises(ValueError, match="calibration needs 3 rows"):
        create("effnet_unet", width=4, calibration=bad)


def test_fit_refuses_nothing_to_fit_on():
    with pytest.raises(calibration.CalibrationError, match="score at least one fold"):
        calibration.fit([])

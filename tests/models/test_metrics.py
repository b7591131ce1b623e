"""Our metrics against independent implementations (scikit-image) and hand-worked values."""

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nircolor.models import metrics
from nircolor.models.data import read_nir, read_rgb


@pytest.fixture
def real_pair(fixture_pairs):
    nir = read_nir(fixture_pairs / "country" / "0006_nir.jpg")
    rgb = read_rgb(fixture_pairs / "country" / "0006_rgb.jpg")
    return metrics.nir_as_grey(nir), rgb


def test_psnr_matches_scikit_image(real_pair):
    pred, gt = real_pair
    assert metrics.psnr(pred, gt) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=255), abs=1e-9)


def test_ssim_matches_scikit_image_gaussian_ssim(real_pair):
    pred, gt = real_pair
    ref = structural_similarity(gt, pred, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert metrics.ssim(pred, gt) == pytest.approx(ref, abs=1e-6)


def test_ssim_of_blurred_image_matches_too(real_pair):
    _, gt = real_pair
    blurred = cv2.GaussianBlur(gt, (7, 7), 2.0)
    ref = structural_similarity(gt, blurred, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert metrics.ssim(blurred, gt) == pytest.approx(ref, abs=1e-6)
    assert metrics.ssim(gt, gt) == pytest.approx(1.0)


def test_angular_error_and_cosine_hand_worked():
    red = np.array([[[255, 0, 0], [255, 255, 0]]], dtype=np.uint8)
    green = np.array([[[0, 255, 0], [255, 0, 0]]], dtype=np.uint8)
    # 90 degrees for red vs green, 45 degrees for yellow vs red.
    assert metrics.angular_error(red, green) == pytest.approx(67.5)
    assert metrics.cosine(red, green) == pytest.approx((0.0 + np.sqrt(0.5)) / 2)


def test_angular_error_ignores_black_pixels_and_is_scale_invariant():
    a = np.array([[[0, 0, 0], [10, 20, 30]]], dtype=np.uint8)
    b = np.array([[[5, 5, 5], [20, 40, 60]]], dtype=np.uint8)
    assert metrics.angular_error(a, b) == pytest.approx(0.0, abs=1e-6)


def test_l1_in_unit_range():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 51, np.uint8)
    assert metrics.l1(a, b) == pytest.approx(0.2)


def test_mismatched_images_are_refused():
    with pytest.raises(ValueError, match="one size"):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        metrics.ssim(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8))


def test_oracle_decomposition_tells_a_brightness_error_from_a_colour_error(real_pair):
    _, rgb = real_pair
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.int16)  # OpenCV as an independent BT.601 reference
    too_dark = ycc.copy()
    too_dark[..., 0] -= 40  # the scene's exposure guessed wrong, its colour right
    too_dark = cv2.cvtColor(np.clip(too_dark, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    d = metrics.oracle_decomposition(too_dark, rgb)
    assert metrics.psnr(too_dark, rgb) < 20
    assert d["true_luma"] > 35 and d["exposure"] > 30  # the true brightness, or only its mean, repairs it
    assert d["true_chroma"] < 21  # the true colour does not

    tinted = ycc.copy()
    tinted[..., 2] += 25  # the right brightness, a blue tint
    tinted = cv2.cvtColor(np.clip(tinted, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    d = metrics.oracle_decomposition(tinted, rgb)
    assert d["true_chroma"] > 35 and d["true_luma"] < 25 and d["exposure"] < 25

"""Image quality metrics on 8-bit RGB, as the NIR colorization papers report them.

- PSNR (dB) over all pixels and channels, peak 255.
- SSIM: Wang et al.'s Gaussian-window SSIM (11x11, sigma 1.5, K1 0.01, K2 0.03), averaged over
  the three channels and over the pixels at least 5 from the border (scikit-image's convention;
  the tests cross-check against it). OpenCV's separable blur makes it fast on full frames.
- Angular error (degrees): mean over pixels of the angle between predicted and true RGB vectors
  (Suarez et al., eq. 5); pixels where either vector is black have no angle and are left out.
- Cosine: mean per-pixel cosine similarity of the RGB vectors (SNet's Table 1).
- L1: mean absolute error with values in [0, 1] (Limmer & Lensch's L1-error).
"""

from __future__ import annotations

import numpy as np
import cv2

METRIC_NAMES = ("psnr", "ssim", "angular_error", "cosine", "l1")
# True where a larger figure is better (for reports and model selection).
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "angular_error": False, "cosine": True, "l1": False}


def _check(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"metrics need two HxWx3 images of one size, got {pred.shape} and {target.shape}")
    if pred.dtype != np.uint8 or target.dtype != np.uint8:
        raise ValueError(f"metrics need uint8 images, got {pred.dtype} and {target.dtype}")


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    _check(pred, target)
    mse = np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    _check(pred, target)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = pred.astype(np.float64), target.astype(np.float64)

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def _pixel_cosines(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    p = pred.reshape(-1, 3).astype(np.float64)
    t = target.reshape(-1, 3).astype(np.float64)
    norms = np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1)
    valid = norms > 0
    return np.clip(np.einsum("ij,ij->i", p[valid], t[valid]) / norms[valid], -1.0, 1.0)


def angular_error(pred: np.ndarray, target: np.ndarray) -> float:
    _check(pred, target)
    return float(np.degrees(np.arccos(_pixel_cosines(pred, target))).mean())


def cosine(pred: np.ndarray, target: np.ndarray) -> float:
    _check(pred, target)
    return float(_pixel_cosines(pred, target).mean())


def l1(pred: np.ndarray, target: np.ndarray) -> float:
    _check(pred, target)
    return float(np.mean(np.abs(pred.astype(np.float64) - target.astype(np.float64))) / 255.0)


def all_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {
        "psnr": psnr(pred, target),
        "ssim": ssim(pred, target),
        "angular_error": angular_error(pred, target),
        "cosine": cosine(pred, target),
        "l1": l1(pred, target),
    }


# Full-range BT.601 (JPEG's YCbCr): luminance and two colour-difference channels.
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)
ORACLE_NAMES = ("true_luma", "true_chroma", "exposure")


def oracle_decomposition(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Where a colouring's error is, as PSNR of three repaired versions of it (YCbCr): with the
    true luminance (what its colour is worth), with the true colour-difference channels (what
    its brightness is worth: the figure a model that learns scenes' brightness moves) and with
    its luminance shifted to the true mean (what a perfect per-image exposure would add)."""
    _check(pred, target)
    p = pred.reshape(-1, 3).astype(np.float64) @ _RGB_TO_YCC.T
    t = target.reshape(-1, 3).astype(np.float64) @ _RGB_TO_YCC.T

    def score(ycc: np.ndarray) -> float:
        rgb = np.clip(np.rint(ycc @ _YCC_TO_RGB.T), 0, 255).astype(np.uint8).reshape(pred.shape)
        return psnr(rgb, target)

    shifted = p.copy()
    shifted[:, 0] += t[:, 0].mean() - p[:, 0].mean()
    return {"true_luma": score(np.column_stack([t[:, 0], p[:, 1:]])),
            "true_chroma": score(np.column_stack([p[:, 0], t[:, 1:]])),
            "exposure": score(shifted)}


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in METRIC_NAMES}


def nir_as_grey(nir: np.ndarray) -> np.ndarray:
    """The trivial baseline: the NIR image copied into all three channels."""
    return np.repeat(nir[:, :, None], 3, axis=2)

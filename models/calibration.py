"""Out-of-fold calibration: a linear correction of a network's colour, fitted on scenes it never saw.

A network trained on 600 scenes is sure of itself on each of them: on an unseen scene it still
commits to an exposure and a colour, and on about one image in six that commitment scores below
showing the NIR as grey (a grey floor, a dark snowfield). Cross-validation gives, for every pair,
a prediction by a model that never saw its scene; a handful of numbers fitted on those tells how
far to trust the network where it was not trained: how much of its brightness to pull towards the
NIR's, locally and over the frame, how much to shrink its colour towards grey, and how to temper
its exposure guess. The correction is a few multiply-adds per pixel inside the network (an
effnet_unet option), so the exported graph, DeepStream and Triton users get it too; it is linear
in the colour and in the NIR, so the frame graph's NIR-guided upsampling carries it to full
resolution unchanged.

Features, per output channel c, of the colour P (on [0, 1]) and the NIR frame N (on [0, 1]),
Y = BT.601 luma of P, means over the whole frame the network saw:

    RGB_c = P_c + k[c] . (1, N - Y, mean N - mean Y, P_c - Y, mean Y)

The fit minimises the mean over images of each image's log squared error (the gradient of the
benchmark's mean PSNR) by iteratively reweighted least squares: each image's pixels weigh
1 / its current squared error, so an image already close counts as much as one far off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nircolor import files

FEATURES = ("bias", "nir_minus_luma", "mean_nir_minus_mean_luma", "chroma", "mean_luma")
LUMA = (0.299, 0.587, 0.114)  # BT.601, as the oracle decomposition (models/metrics.py)


class CalibrationError(ValueError):
    """Coefficients of the wrong shape, or too little to fit them on."""


def check_coefficients(coefficients) -> list[list[float]]:
    """A 3 x len(FEATURES) nested list of finite numbers, or CalibrationError saying what is wrong."""
    try:
        k = np.asarray(coefficients, dtype=np.float64)
    except (TypeError, ValueError):
        k = np.empty(0)
    if k.shape != (3, len(FEATURES)) or not np.all(np.isfinite(k)):
        raise CalibrationError(f"calibration needs 3 rows (R, G, B) of {len(FEATURES)} finite numbers ({', '.join(FEATURES)}), "
                               f"got an array of shape {k.shape}; fit them with `nircolor cv --from RUN --calibrate`")
    return k.tolist()


def features(colour: torch.Tensor, nir: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W colour and N x 1 x H x W NIR on [0, 1] -> N x 3 x F x H x W features."""
    weights = torch.tensor(LUMA, dtype=colour.dtype, device=colour.device).view(1, 3, 1, 1)
    luma = (colour * weights).sum(dim=1, keepdim=True)
    mean_luma = luma.mean(dim=(2, 3), keepdim=True)
    mean_nir = nir.mean(dim=(2, 3), keepdim=True)
    ones = torch.ones_like(colour)
    per_channel = [ones, (nir - luma).expand_as(colour), (mean_nir - mean_luma).expand_as(colour), colour - luma,
                   mean_luma.expand_as(colour)]
    return torch.stack(per_channel, dim=2)


def apply(colour: torch.Tensor, nir: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """The calibrated colour on [0, 1]; `coefficients` 3 x F."""
    correction = (features(colour, nir) * coefficients.to(colour.dtype).view(1, 3, -1, 1, 1)).sum(dim=2)
    return torch.clamp(colour + correction, 0.0, 1.0)


@dataclass
class Sample:
    """One scored pair at the network's working size: features and the residual the fit explains."""

    pair: str
    features: np.ndarray  # 3 x F x P (P sampled pixels)
    residual: np.ndarray  # 3 x P: truth minus the network's colour, on [0, 1]


def sample_of(pair: str, colour: torch.Tensor, nir: torch.Tensor, truth: torch.Tensor, crop: tuple[int, int], stride: int = 2) -> Sample:
    """Features of a padded 1 x 3 x H x W network colour and its padded NIR (the frame means are
    those the network sees), kept on the image's own `crop` (h, w) every `stride` pixels;
    `truth` 1 x 3 x h x w on [0, 1]."""
    h, w = crop
    f = features(colour, nir)[0, :, :, :h:stride, :w:stride]
    residual = truth[0, :, ::stride, ::stride] - colour[0, :, :h:stride, :w:stride]
    return Sample(pair, f.reshape(3, len(FEATURES), -1).numpy().astype(np.float32), residual.reshape(3, -1).numpy().astype(np.float32))


def save_samples(path: str | Path, samples: list[Sample]) -> None:
    with files.atomic_path(path) as temporary, open(temporary, "wb") as fh:
        np.savez_compressed(fh, pairs=np.array([s.pair for s in samples]),
                            sizes=np.array([s.residual.shape[1] for s in samples]),
                            features=np.concatenate([s.features for s in samples], axis=2).astype(np.float16),
                            residual=np.concatenate([s.residual for s in samples], axis=1).astype(np.float16))


def load_samples(path: str | Path) -> list[Sample]:
    blob = np.load(path)
    bounds = np.concatenate([[0], np.cumsum(blob["sizes"])])
    f, r = blob["features"].astype(np.float32), blob["residual"].astype(np.float32)
    return [Sample(str(p), f[:, :, a:b], r[:, a:b]) for p, a, b in zip(blob["pairs"], bounds[:-1], bounds[1:])]


def _squared_errors(samples: list[Sample], k: np.ndarray) -> np.ndarray:
    """Each image's mean squared error (on [0, 1]) after the correction `k`; the clamp to [0, 1]
    is left out (it only lowers the error)."""
    return np.array([np.mean((s.residual - np.einsum("cfp,cf->cp", s.features, k)) ** 2) for s in samples])


def fit(samples: list[Sample], iterations: int = 5, floor: float = 1e-5, ridge: float = 1e-4) -> np.ndarray:
    """Coefficients (3 x F) that maximise the mean PSNR over `samples` (IRLS, see the module notes).

    The frame-level features are one number per image: with few images they cannot be told apart,
    and a small ridge towards no correction keeps the fit where the data leave it undecided."""
    if not samples:
        raise CalibrationError("a calibration needs scored images and got none; score at least one fold first")
    k = np.zeros((3, len(FEATURES)))
    for _ in range(iterations):
        weights = 1.0 / np.maximum(_squared_errors(samples, k), floor)
        for c in range(3):
            gram = np.zeros((len(FEATURES), len(FEATURES)))
            rhs = np.zeros(len(FEATURES))
            for s, wi in zip(samples, weights):
                x = s.features[c].astype(np.float64)  # F x P
                scale = wi / x.shape[1]  # every image weighs the same whatever its size
                gram += scale * (x @ x.T)
                rhs += scale * (x @ s.residual[c].astype(np.float64))
            k[c] = np.linalg.solve(gram + ridge * weights.sum() * np.eye(len(FEATURES)), rhs)
    return k


def mean_psnr(samples: list[Sample], k: np.ndarray | None = None) -> float:
    """Mean PSNR at the working size (8-bit scale) with the correction `k` (None: the network's)."""
    k = np.zeros((3, len(FEATURES))) if k is None else np.asarray(k)
    return float(np.mean(-10 * np.log10(np.maximum(_squared_errors(samples, k), 1e-10))))

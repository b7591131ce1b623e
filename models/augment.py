"""What an actively illuminated NIR camera at night does to a picture, as seeded degradations.

The training pairs are daylight photographs; the car's camera sees the road under its own NIR
emitter, at high sensor gain, from a moving vehicle, through a video encoder. Each degradation
below acts on the NIR frame only (the colour target stays the daylight RGB: the model must learn
to give the same colour through them):

- exposure: a global gain and gamma (auto-exposure hunting, a darker or brighter scene);
- falloff: the emitter's cone, bright in the middle and darker towards the edges, and darker
  towards the top of the frame, where the road is farther from the lamp (inverse square);
- noise: photon (Poisson) and read (Gaussian) noise at a high analogue gain;
- motion_blur: a linear blur of random direction and length;
- h264: an intra-coded H.264 frame at a high CRF (blocking, lost texture), through PyAV.

`NightCamera(strength, p)` draws a random combination for training; `DEGRADATIONS` holds the
fixed, named settings that benchmarks/robustness.py scores on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

FULL_WELL = 4000.0  # electrons at full scale and unit gain


def exposure(nir: np.ndarray, gain: float, gamma: float = 1.0) -> np.ndarray:
    x = nir.astype(np.float32) / 255.0
    return np.clip(255.0 * gain * np.power(x, gamma) + 0.5, 0, 255).astype(np.uint8)


def falloff(nir: np.ndarray, edge: float, distance: float, centre: tuple[float, float] = (0.5, 0.55)) -> np.ndarray:
    """Multiply by the emitter's light: `edge` is the fraction of light left in the corners
    (cos^4-like radial fall-off), `distance` the fraction left at the top row relative to the
    bottom (light ~ 1 / range^2, and range grows towards the horizon)."""
    h, w = nir.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = centre[0] * h, centre[1] * w
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (0.25 * (h * h + w * w))
    radial = 1.0 - (1.0 - edge) * np.clip(r2, 0, 1)
    vertical = distance + (1.0 - distance) * (yy / max(1, h - 1)) ** 2
    return np.clip(nir.astype(np.float32) * radial * vertical + 0.5, 0, 255).astype(np.uint8)


def noise(nir: np.ndarray, gain: float, read_sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian sensor noise. Full scale holds FULL_WELL / gain electrons: a higher
    analogue gain means fewer photons per grey level and more shot noise (at gain 8, about 8
    grey levels of noise at mid-grey), plus read noise of `read_sigma` grey levels."""
    electrons_full = FULL_WELL / gain
    photons = rng.poisson(nir.astype(np.float32) * (electrons_full / 255.0)).astype(np.float32)
    noisy = photons * (255.0 / electrons_full) + rng.normal(0.0, read_sigma, nir.shape).astype(np.float32)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def motion_blur(nir: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    if length < 2:
        return nir
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_deg, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= max(kernel.sum(), 1e-6)
    return cv2.filter2D(nir, -1, kernel, borderType=cv2.BORDER_REFLECT)


def h264(nir: np.ndarray, crf: int) -> np.ndarray:
    """Encode and decode one frame with libx264 (intra, yuv420p: even sizes are padded)."""
    import av

    h, w = nir.shape
    ph, pw = h + h % 2, w + w % 2
    frame_in = cv2.copyMakeBorder(nir, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = pw, ph, "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"crf": str(crf), "preset": "ultrafast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(frame_in, format="gray").reformat(format="yuv420p")
    packets = list(codec.encode(frame)) + list(codec.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    out = None
    for packet in packets:
        for decoded in decoder.decode(packet):
            out = decoded
    for decoded in decoder.decode(None):
        out = decoded
    if out is None:
        raise RuntimeError("libx264 returned no frame for a single-frame encode")
    return np.ascontiguousarray(out.to_ndarray(format="gray")[:h, :w])


@dataclass(frozen=True)
class Degradation:
    """A fixed setting of the degradations, applied in camera order (light, exposure, blur,
    sensor noise, encoder); None leaves a step out."""

    name: str
    falloff: tuple[float, float] | None = None  # (edge, distance)
    exposure: tuple[float, float] | None = None  # (gain, gamma)
    blur: tuple[int, float] | None = None  # (length px at 1024-px width, angle)
    noise: tuple[float, float] | None = None  # (gain, read sigma)
    h264_crf: int | None = None

    def apply(self, nir: np.ndarray, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        if self.falloff:
            nir = falloff(nir, *self.falloff)
        if self.exposure:
            nir = exposure(nir, *self.exposure)
        if self.blur:
            length = max(2, round(self.blur[0] * nir.shape[1] / 1024))
            nir = motion_blur(nir, length, self.blur[1])
        if self.noise:
            nir = noise(nir, *self.noise, rng)
        if self.h264_crf is not None:
            nir = h264(nir, self.h264_crf)
        return nir


# The robustness benchmark's fixed set (benchmarks/robustness.py); the last combines them.
DEGRADATIONS = (
    Degradation("emitter fall-off", falloff=(0.5, 0.5)),
    Degradation("under-exposed x0.5", exposure=(0.5, 1.0)),
    Degradation("over-exposed x1.6", exposure=(1.6, 0.9)),
    Degradation("sensor noise, high gain", noise=(8.0, 3.0)),
    Degradation("motion blur 15 px", blur=(15, 10.0)),
    Degradation("H.264 CRF 38", h264_crf=38),
    Degradation("night: all of them", falloff=(0.6, 0.6), exposure=(0.9, 1.0), blur=(9, 5.0), noise=(6.0, 2.0), h264_crf=32),
)


class NightCamera:
    """Random degradations for training: each step is applied with probability `p`, its
    strength drawn up to `strength` (1: the benchmark's settings; 0: nothing). `exposure=False`
    leaves the global gain and gamma out: with it the model learns that the NIR frame's own
    brightness says nothing about the scene's, which is the cue a daylight scene's exposure
    most depends on."""

    def __init__(self, strength: float = 1.0, p: float = 0.3, h264_p: float = 0.1, exposure: bool = True):
        self.strength, self.p, self.h264_p, self.exposure = strength, p, h264_p, exposure

    def __call__(self, nir: np.ndarray, rng: random.Random) -> np.ndarray:
        s = self.strength
        if s <= 0:
            return nir
        if rng.random() < self.p:
            nir = falloff(nir, 1 - s * rng.uniform(0, 0.65), 1 - s * rng.uniform(0, 0.7), (rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)))
        if rng.random() < self.p and self.exposure:
            nir = exposure(nir, float(np.exp(s * rng.uniform(-0.7, 0.5))), float(np.exp(s * rng.uniform(-0.2, 0.2))))
        if rng.random() < self.p:
            nir = motion_blur(nir, round(2 + s * rng.uniform(0, 7)), rng.uniform(0, 180))
        if rng.random() < self.p:
            nir = noise(nir, 1 + s * rng.uniform(0, 8), s * rng.uniform(0, 3), np.random.default_rng(rng.randrange(2**32)))
        if rng.random() < self.h264_p * s:
            nir = h264(nir, rng.randrange(24, 40))
        return nir

"""NIR-guided upsampling: run the model on a smaller frame, then restore full resolution with a
guided filter whose guide is the NIR frame, so a small, fast model keeps the NIR frame's sharp
edges. It is the fast guided filter (He & Sun, 2015): the local linear model colour = a * NIR + b
is fitted at the network's resolution and only applied at full resolution, which costs a third
of a full-resolution guided filter at 1080p and scored better on the validation split.

A model trained on scenes of a given size (its `infer_size`, the long side in pixels) sees any
larger frame downscaled to that size: its receptive field then spans the scene as in training,
and its cost no longer grows with the camera's resolution."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def working_scale(height: int, width: int, infer_size: int | None) -> float:
    """The fraction of an HxW frame's size at which a model with working size `infer_size` sees
    it: the long side down to `infer_size`, never up (1.0 for small frames or no working size)."""
    if not infer_size or max(height, width) <= infer_size:
        return 1.0
    return infer_size / max(height, width)


@dataclass(frozen=True)
class GuidedUpsampling:
    scale: float  # the model sees the frame at this fraction of its size, 0 < scale < 1
    radius: int = 8  # guided-filter window radius, in the network's (low-resolution) pixels
    eps: float = 0.01  # regularisation, as a fraction of the full range, squared

    @classmethod
    def at(cls, scale: float) -> "GuidedUpsampling | None":
        """The upsampling for a model run at `scale` of the frame size; None at full size."""
        return None if scale == 1.0 else cls(scale)

    @classmethod
    def for_frame(cls, height: int, width: int, infer_size: int | None) -> "GuidedUpsampling | None":
        """The upsampling an HxW frame needs for a model with working size `infer_size`."""
        return cls.at(working_scale(height, width, infer_size))

    def small_shape(self, height: int, width: int) -> tuple[int, int]:
        """The network's input size for an HxW frame."""
        return max(1, round(height * self.scale)), max(1, round(width * self.scale))

    def __post_init__(self):
        if not 0 < self.scale < 1:
            raise ValueError(f"guided upsampling needs a scale between 0 and 1, got {self.scale}")

    def downscale(self, nir: np.ndarray) -> np.ndarray:
        h, w = self.small_shape(*nir.shape)
        return cv2.resize(nir, (w, h), interpolation=cv2.INTER_AREA)

    def restore(self, rgb_small: np.ndarray, nir: np.ndarray, nir_small: np.ndarray | None = None) -> np.ndarray:
        """Low-resolution RGB + full-resolution NIR -> full-resolution RGB. `nir_small` is the
        network's input (`downscale(nir)`), the filter's low-resolution guide; pass it when you
        have it so the frame is not downscaled twice."""
        h, w = nir.shape
        if nir_small is None:
            nir_small = self.downscale(nir)
        guide = nir_small.astype(np.float32) / 255
        colour = rgb_small.astype(np.float32) / 255

        def mean(x: np.ndarray) -> np.ndarray:
            return cv2.boxFilter(x, -1, (2 * self.radius + 1, 2 * self.radius + 1))

        guide_mean = mean(guide)
        guide_var = mean(guide * guide) - guide_mean**2
        colour_mean = mean(colour)
        covariance = mean(guide[:, :, None] * colour) - guide_mean[:, :, None] * colour_mean
        a = covariance / (guide_var[:, :, None] + self.eps**2)
        b = colour_mean - a * guide_mean[:, :, None]
        # Only the averaged coefficients are brought to full size; the product and sum run in
        # OpenCV's vectorised kernels (numpy broadcasting at 1080p costs twice as much).
        gain = cv2.resize(mean(a), (w, h), interpolation=cv2.INTER_LINEAR)
        offset = cv2.resize(mean(b) * 255, (w, h), interpolation=cv2.INTER_LINEAR)
        scaled = cv2.multiply(gain, cv2.cvtColor(nir, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_32F)
        return cv2.add(scaled, offset, dtype=cv2.CV_8U)


def frame_min_side(pad_multiple: int) -> int:
    """The smallest frame side the whole-frame graph (models/frame_graph.py) takes: its reflect
    padding needs a side above half the padding multiple, and its box filter one above the
    filter's radius."""
    return max(2 * GuidedUpsampling.radius + 1, pad_multiple // 2 + 1)


@dataclass(frozen=True)
class WorkingSize:
    """Which upsampling each frame gets, decided from that frame's own size: a folder of mixed
    sizes, or a stream that reconnects at another resolution, is seen at the right scale."""

    infer_size: int | None = None  # the model's working size (long side), from its metadata
    scale: float | None = None  # a fixed fraction of every frame's size instead (--infer-scale)

    def upsampling(self, height: int, width: int) -> GuidedUpsampling | None:
        if self.scale is not None:
            return GuidedUpsampling.at(self.scale)
        return GuidedUpsampling.for_frame(height, width, self.infer_size)


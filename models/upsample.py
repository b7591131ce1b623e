"""NIR-guided upsampling: run the model on a smaller frame, then restore full resolution with a
guided filter (He et al., via OpenCV's ximgproc) whose guide is the full-resolution NIR frame,
so a small, fast model keeps the NIR frame's sharp edges.

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
    radius: int = 8  # guided-filter window radius, in full-resolution pixels
    eps: float = 0.01  # regularisation, as a fraction of the full range, squared

    @classmethod
    def at(cls, scale: float) -> "GuidedUpsampling | None":
        """The upsampling for a model run at `scale` of the frame size; None at full size."""
        return None if scale == 1.0 else cls(scale)

    def __post_init__(self):
        if not 0 < self.scale < 1:
            raise ValueError(f"guided upsampling needs a scale between 0 and 1, got {self.scale}")

    def downscale(self, nir: np.ndarray) -> np.ndarray:
        h, w = nir.shape
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        return cv2.resize(nir, size, interpolation=cv2.INTER_AREA)

    def restore(self, rgb_small: np.ndarray, nir: np.ndarray) -> np.ndarray:
        """Low-resolution RGB + full-resolution NIR -> full-resolution RGB."""
        h, w = nir.shape
        coarse = cv2.resize(rgb_small, (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.ximgproc.guidedFilter(nir, coarse, self.radius, (self.eps * 255.0) ** 2)

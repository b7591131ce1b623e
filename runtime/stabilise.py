"""Temporal stabilisation of the colour output: flow-guided recursive blending.

A colorizer sees each frame on its own, so the sensor noise of a night camera and small changes
of the scene make its colours shimmer from frame to frame. The stabiliser follows the scene's
motion with optical flow computed on the NIR input (OpenCV's DIS, at most 320 px wide), warps
its previous output onto the current frame and blends: out = a * current + (1 - a) * warped,
only where the warp is trustworthy (the warped previous NIR matches the current NIR within a few
grey levels: no occlusion, no new object, no scene cut). Elsewhere the current frame is shown as
it is. State: one previous NIR (small) and one previous output; a size change or a cut resets it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FLOW_WIDTH = 320


@dataclass
class TemporalStabiliser:
    weight: float = 0.25  # share of the current frame in the blend (about the last 7 frames are averaged)
    nir_tolerance: float = 12.0  # grey levels: above, the warp is not trusted at that pixel
    cut_threshold: float = 40.0  # mean grey-level change of the small NIR that counts as a new scene

    def __post_init__(self):
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"the stabiliser's weight must be in (0, 1], got {self.weight}")
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.reset()

    def reset(self) -> None:
        self._prev_small: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _grid(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        if (h, w) not in self._grids:
            gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
            self._grids[(h, w)] = (gx, gy)
        return self._grids[(h, w)]

    def __call__(self, nir: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """HxW uint8 NIR and its HxWx3 uint8 colour -> the stabilised colour."""
        h, w = nir.shape
        scale = min(1.0, FLOW_WIDTH / w)
        small = cv2.resize(nir, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else nir
        prev_small, prev_out = self._prev_small, self._prev_out
        self._prev_small = small
        if prev_out is None or prev_out.shape != rgb.shape or prev_small.shape != small.shape \
                or float(np.mean(cv2.absdiff(small, prev_small))) > self.cut_threshold:
            self._prev_out = rgb
            return rgb
        back = self._flow.calc(small, prev_small, None)  # where each pixel of this frame was in the last one
        gx, gy = self._grid(*small.shape)
        map_x, map_y = gx + back[..., 0], gy + back[..., 1]
        trusted = cv2.absdiff(cv2.remap(prev_small, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), small)
        trusted = (trusted < self.nir_tolerance).astype(np.float32)
        if scale < 1:  # the flow to full resolution: displacements scale with the image
            motion = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR) / scale
            gx, gy = self._grid(h, w)
            map_x, map_y = gx + motion[..., 0], gy + motion[..., 1]
            trusted = cv2.resize(trusted, (w, h), interpolation=cv2.INTER_LINEAR)
        warped = cv2.remap(prev_out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        keep = (1.0 - self.weight) * trusted  # share of the warped history per pixel
        out = cv2.blendLinear(warped, rgb, keep, 1.0 - keep)
        self._prev_out = out
        return out

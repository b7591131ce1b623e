"""Temporal stabilisation of the colour output: flow-guided recursive blending.

A colorizer sees each frame on its own, so the sensor noise of a night camera and small changes
of the scene make its colours shimmer from frame to frame. The stabiliser follows the scene's
motion with optical flow computed on the NIR input (OpenCV's DIS, at most 320 px wide), warps
its previous output onto the current frame and blends: out = a * current + (1 - a) * warped,
only where the warp is trustworthy (the warped previous NIR matches the current NIR within a few
grey levels after a light blur, so the camera's own noise does not count as a change: no
occlusion, no new object, no scene cut). Elsewhere the current frame is shown as
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
        self._grids: dict[tuple[int, int], np.ndarray] = {}

    def _grid(self, h: int, w: int) -> np.ndarray:
        """HxWx2 pixel coordinates (x, y): the identity sampling map, in the layout of a flow."""
        if (h, w) not in self._grids:
            gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
            self._grids[(h, w)] = np.dstack([gx, gy])
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
        sampling = self._grid(*small.shape) + back  # one two-channel map, as remap and convertMaps take it
        # Compared after a blur: the camera's own noise is not a change of the scene.
        change = cv2.absdiff(cv2.GaussianBlur(cv2.remap(prev_small, sampling, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), (5, 5), 0),
                              cv2.GaussianBlur(small, (5, 5), 0))
        untrusted = (change >= self.nir_tolerance).astype(np.uint8)
        if scale < 1:
            # The sampling map to full resolution: the small map's coordinates, scaled, resized
            # (coordinates are linear in the pixel position, so this is the grid plus the scaled
            # flow, one resize instead of a resize and two full-size additions).
            sx, sy = w / small.shape[1], h / small.shape[0]
            sampling = cv2.resize((sampling + 0.5) * np.float32([sx, sy]) - 0.5, (w, h), interpolation=cv2.INTER_LINEAR)
            # Bilinear then rounded: the mask's outline follows the scene, not the small grid's blocks.
            untrusted = cv2.resize(untrusted * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127
            untrusted = untrusted.view(np.uint8)
        # Fixed-point maps: the remap is faster, the same picture to 1/32 pixel.
        fixed, fraction = cv2.convertMaps(sampling, None, cv2.CV_16SC2)
        warped = cv2.remap(prev_out, fixed, fraction, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # One weight everywhere, then the current frame put back where the warp is not trusted:
        # an integer blend and a masked copy cost a third of a per-pixel float blend.
        out = cv2.addWeighted(rgb, self.weight, warped, 1.0 - self.weight, 0.0)
        cv2.copyTo(rgb, untrusted, out)
        self._prev_out = out
        return out

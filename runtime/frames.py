"""Frame conversions around the network: any NIR frame -> padded uint8 batch -> RGB frames.

Backends take N x 1 x H x W uint8 frames whose H and W are multiples of the model's padding and
return N x H x W x 3 uint8 RGB; this module does the rest on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nircolor.models import nir


class FrameError(ValueError):
    """A frame that cannot be colourised; the message says what was wrong."""


def to_nir(frame: np.ndarray, bits: int = 16) -> np.ndarray:
    """Any camera/video frame -> HxW uint8 NIR, reduced the way the models' training data was
    (nircolor.models.nir.to_nir); a frame that cannot be is a FrameError."""
    try:
        return nir.to_nir(frame, bits)
    except ValueError as exc:
        raise FrameError(str(exc)) from None


@dataclass(frozen=True)
class Padding:
    """How a batch was padded, so outputs can be cropped back."""

    height: int
    width: int
    padded_height: int
    padded_width: int


def pad_batch(frames: list[np.ndarray], multiple: int) -> tuple[np.ndarray, Padding]:
    """Same-sized HxW uint8 frames -> N x 1 x H' x W' uint8, reflect-padded to the multiple."""
    h, w = frames[0].shape
    if any(f.shape != (h, w) for f in frames):
        raise FrameError(f"a batch needs frames of one size, got {sorted({f.shape for f in frames})}")
    ph, pw = (-h) % multiple, (-w) % multiple
    batch = np.stack(frames)[:, None]
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "edge"
        batch = np.pad(batch, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)
    return batch, Padding(h, w, h + ph, w + pw)


def crop_batch(rgb: np.ndarray, padding: Padding) -> list[np.ndarray]:
    """N x H' x W' x 3 -> N contiguous H x W x 3 frames."""
    return [np.ascontiguousarray(img[: padding.height, : padding.width]) for img in rgb]


def side_by_side(nir: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """NIR | colour, one HxW(2)x3 RGB frame (the NIR shown as grey)."""
    return np.concatenate([np.repeat(nir[:, :, None], 3, axis=2), rgb], axis=1)

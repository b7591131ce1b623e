"""Frame conversions around the network: any NIR frame -> padded uint8 batch -> RGB frames.

Backends take N x 1 x H x W uint8 frames whose H and W are multiples of the model's padding and
return N x H x W x 3 uint8 RGB; this module does the rest on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


class FrameError(ValueError):
    """A frame that cannot be colourised; the message says what was wrong."""


def to_nir(frame: np.ndarray) -> np.ndarray:
    """Any camera/video frame -> HxW uint8 NIR, as the models were trained: colour frames are
    reduced to grey (BT.601 luma, as OpenCV reads single-channel images), 16-bit scaled to 8."""
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise FrameError(f"empty or missing frame ({type(frame).__name__} of size {getattr(frame, 'size', 0)})")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        frame = cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_BGR2GRAY)
    if frame.ndim != 2:
        raise FrameError(f"frame of shape {frame.shape} is neither grey (HxW) nor colour (HxWx3)")
    if frame.dtype == np.uint16:
        frame = ((frame.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif frame.dtype in (np.float32, np.float64):
        if not np.isfinite(frame).all():
            raise FrameError("frame holds NaN or infinite values")
        frame = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    if frame.dtype != np.uint8:
        raise FrameError(f"frame of pixel type {frame.dtype} is not 8-bit, 16-bit or float in [0, 1]")
    return frame


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

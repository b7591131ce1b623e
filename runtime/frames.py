"""The frame contract, torch-free: every conversion between a camera frame, the network's input,
the network's output and a uint8 RGB frame, and padding to the network's multiple.

Backends take N x 1 x H x W uint8 frames whose H and W are multiples of the model's padding and
return N x H x W x 3 uint8 RGB. A network reads NIR on its declared `input_range` and writes RGB
on its `output_range` (both in a checkpoint's card and an ONNX file's metadata); the scalings here
are the only ones, and `frames_torch` is their twin for tensors, written with the same operations
in the same order so both give the same bits.
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


def nir_to_network(nir: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """uint8 NIR (any shape) -> float32 on the network's input range: lo + (hi - lo) * nir / 255."""
    unit = nir.astype(np.float32) / np.float32(255.0)
    lo, hi = input_range
    return unit if (lo, hi) == (0.0, 1.0) else np.float32(lo) + np.float32(hi - lo) * unit


def network_to_rgb_float(y: np.ndarray, output_range: tuple[float, float]) -> np.ndarray:
    """A network's N x 3 x H x W output on its range -> N x H x W x 3 float32 on [0, 255], not
    rounded (what parity checks compare)."""
    lo, hi = output_range
    unit = (np.asarray(y, np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return (unit * np.float32(255.0)).transpose(0, 2, 3, 1)


def network_to_rgb(y: np.ndarray, output_range: tuple[float, float]) -> np.ndarray:
    """A network's N x 3 x H x W output on its range -> N x H x W x 3 uint8 RGB (rounded, clipped)."""
    return rgb_float_to_uint8(network_to_rgb_float(y, output_range))


def rgb_float_to_uint8(rgb: np.ndarray) -> np.ndarray:
    """RGB on [0, 255] as floats -> uint8, rounded half to even and clipped."""
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def pad_to_even(rgb: np.ndarray) -> np.ndarray:
    """An HxWx3 frame with odd sides grown by one repeated row or column: 4:2:0 video needs even sizes."""
    h, w = rgb.shape[:2]
    return rgb if h % 2 == 0 and w % 2 == 0 else np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def even_size(width: int, height: int) -> tuple[int, int]:
    """The (width, height) a 4:2:0 stream of frames of this size has (see pad_to_even)."""
    return width + width % 2, height + height % 2


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

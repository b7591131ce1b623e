"""What a NIR input is: any image or video frame reduced to HxW uint8, for training data and live
frames alike. numpy and OpenCV only, so the runtime can use it without PyTorch."""

from __future__ import annotations

import cv2
import numpy as np


def to_nir(frame: np.ndarray, bits: int = 16) -> np.ndarray:
    """Any image or video frame -> HxW uint8 NIR: colour (BGR) reduced to grey with BT.601 luma,
    as OpenCV reads single-channel images; 16-bit containers scaled to 8 bits from `bits`
    significant bits (12 for a 12-bit sensor's PNGs); float taken as [0, 1]. The one place that
    says what a NIR input is, for training data and live frames alike."""
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise ValueError(f"empty or missing frame ({type(frame).__name__} of size {getattr(frame, 'size', 0)})")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        frame = cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_BGR2GRAY)
    if frame.ndim != 2:
        raise ValueError(f"frame of shape {frame.shape} is neither grey (HxW) nor colour (HxWx3)")
    if frame.dtype == np.uint16:
        if bits == 16:
            frame = ((frame.astype(np.uint32) + 128) // 257).astype(np.uint8)
        else:
            top = (1 << bits) - 1
            frame = np.rint(np.minimum(frame, top) * (255.0 / top)).astype(np.uint8)
    elif frame.dtype in (np.float32, np.float64):
        if not np.isfinite(frame).all():
            raise ValueError("frame holds NaN or infinite values")
        frame = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    if frame.dtype != np.uint8:
        raise ValueError(f"frame of pixel type {frame.dtype} is not 8-bit, 16-bit or float in [0, 1]")
    return frame

"""The runner interface every backend implements (after Polygraphy's BaseRunner): the public
`load / infer / close` check state and shapes; a backend overrides only the `_impl` methods."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nircolor.models.upsample import frame_min_side


class BackendError(RuntimeError):
    """A backend that cannot load or run; the message names the model and what to do."""


@dataclass
class ModelInfo:
    """What a runner knows about its model once loaded (from the checkpoint or ONNX metadata)."""

    name: str
    architecture: str
    pad_multiple: int
    precision: str
    device: str
    extra: dict[str, Any] = field(default_factory=dict)
    infer_size: int | None = None  # the scene size the model was trained at (see models.upsample)
    # True: the model is the self-contained frame graph (models/frame_graph.py): it takes whole
    # frames of any size and does the padding, working-size downscale and upsampling itself.
    whole_frames: bool = False


class Runner:
    """uint8 NIR N x 1 x H x W -> uint8 RGB N x H x W x 3. H and W: any size from 17 for a
    whole-frame model; multiples of `info.pad_multiple` for a bare network."""

    name = "base"

    def __init__(self) -> None:
        self._loaded = False
        self.info: ModelInfo | None = None

    # Public API: checks, then the backend's implementation.
    def load(self) -> "Runner":
        if self._loaded:
            raise BackendError(f"{self.name} runner is already loaded")
        self.info = self._load_impl()
        self._loaded = True
        return self

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if not self._loaded:
            raise BackendError(f"{self.name} runner used before load(); call load() or use it in a with-block")
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1] != 1:
            raise BackendError(f"{self.name} runner needs an N x 1 x H x W uint8 batch, got {batch.dtype} {batch.shape}")
        m = self.info.pad_multiple
        if self.info.whole_frames:
            side = frame_min_side(m)
            if min(batch.shape[2:]) < side:
                raise BackendError(f"{self.name} runner needs frames of at least {side}x{side}, got {batch.shape[2]}x{batch.shape[3]}")
        elif batch.shape[2] % m or batch.shape[3] % m:
            raise BackendError(f"{self.name} runner needs H and W multiples of {m}, got {batch.shape[2]}x{batch.shape[3]}; pad with runtime.frames.pad_batch")
        out = self._infer_impl(batch)
        expected = (batch.shape[0], batch.shape[2], batch.shape[3], 3)
        if out.shape != expected or out.dtype != np.uint8:
            raise BackendError(f"{self.name} runner returned {out.dtype} {out.shape}, expected uint8 {expected}")
        return out

    def close(self) -> None:
        if self._loaded:
            self._close_impl()
            self._loaded = False

    def __enter__(self) -> "Runner":
        return self if self._loaded else self.load()

    def __exit__(self, *exc) -> None:
        self.close()

    # Backend implementations.
    def _load_impl(self) -> ModelInfo:
        raise NotImplementedError

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _close_impl(self) -> None:
        pass

"""TensorRT backend: a nircolor engine file, or an ONNX model/checkpoint built into the engine
cache for this GPU on first use. TensorRT is imported only when this backend loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ModelInfo, Runner
from .onnxruntime_backend import cache_dir, onnx_for


class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, model: str, fp16: bool = True, shapes: str | None = None, whole_frames: bool = True):
        super().__init__()
        self.model, self.fp16, self.shapes = model, fp16, shapes
        self.graph = "frame" if whole_frames else "network"

    def _load_impl(self) -> ModelInfo:
        from nircolor.export import tensorrt

        tensorrt.require_tensorrt()
        if str(self.model).endswith(".engine"):
            path = Path(self.model)
        else:
            onnx_path = onnx_for(self.model, io="uint8", graph=self.graph)
            result = tensorrt.build_engine(onnx_path, fp16=self.fp16, shapes=self.shapes, cache_dir=cache_dir() / "engines")
            path = result.path
        self.runner = tensorrt.TensorRTRunner(path)
        header = self.runner.header
        return ModelInfo(path.stem, header.model["architecture"], header.model["pad_multiple"], header.precision,
                         f"cuda (compute {header.compute_capability})", {"profile": header.profile},
                         header.model.get("infer_size"), whole_frames=header.model.get("graph") == "frame")

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        out = self.runner(batch)
        return out if out.dtype == np.uint8 else np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _close_impl(self) -> None:
        del self.runner

"""ONNX Runtime backend: runs an ONNX file (export/artifacts.py makes one from a checkpoint, or
finds a shipped model's) on the TensorRT, CUDA or CPU execution provider. It imports no PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nircolor.export.engine_file import cache_root
from nircolor.export.metadata import read_metadata
from nircolor.runtime.frames import network_to_rgb, nir_to_network

from .base import ModelInfo, Runner


class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path: str | Path, provider: str = "auto", fp16: bool = False, threads: int | None = None):
        """`path`: the ONNX file (export.artifacts.onnx_for); `fp16` chooses providers that run FP16."""
        super().__init__()
        self.path, self.provider, self.fp16, self.threads = Path(path), provider, fp16, threads

    def _load_impl(self) -> ModelInfo:
        import onnxruntime as ort

        from nircolor.export.ort_providers import choose

        meta = read_metadata(self.path)
        providers, why = choose(ort.get_available_providers(), self.provider, fp16=self.fp16, cache_dir=cache_root())
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        # Idle worker threads sleep instead of spinning: in the pipeline, decoding and encoding
        # share these cores, and spinning threads take the time those stages need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), options, providers=[p for p, _ in providers], provider_options=[o for _, o in providers])
        self.io, self.meta = meta["io"], meta
        self.input_name = self.session.get_inputs()[0].name
        device = self.session.get_providers()[0]
        return ModelInfo(self.path.stem, meta["architecture"], meta["pad_multiple"], meta["precision"], device, {"why": why, "io": self.io, "path": str(self.path)},
                         meta["infer_size"], whole_frames=meta["graph"] == "frame")

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        if self.io == "uint8":
            return self.session.run(None, {self.input_name: batch})[0]
        y = self.session.run(None, {self.input_name: nir_to_network(batch, self.meta["input_range"])})[0]
        return network_to_rgb(y, self.meta["output_range"])

    def _close_impl(self) -> None:
        del self.session

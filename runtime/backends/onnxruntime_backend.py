"""ONNX Runtime backend: an exported ONNX file, a shipped model's checked ONNX file, or a
checkpoint exported (and parity-checked) on first use into the cache; TensorRT, CUDA or CPU
execution provider. It imports no PyTorch unless a checkpoint has to be exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nircolor.export.metadata import OnnxModelError, read_metadata
from nircolor.runtime.frames import network_to_rgb, nir_to_network
from nircolor.models import zoo

from .base import BackendError, ModelInfo, Runner


def cache_dir() -> Path:
    from nircolor.export.engine_file import cache_root

    return cache_root()


def onnx_for(model: str, io: str = "uint8", fp16: bool = False, graph: str = "frame", int8: bool = False) -> Path:
    """The ONNX file for a model: itself if it is one; the shipped frame graph of a shipped model;
    else the cached export of the checkpoint (keyed on the checkpoint's sha256 and the graph),
    exported and checked on first use (which needs PyTorch: the `train` extra). `int8`: that
    FP32 graph quantized (export/int8.py, calibrated on the shipped sample frames) and checked,
    cached beside it; an ONNX file that is already INT8 is used as it is."""
    if int8:
        return _int8_for(model, io, graph)
    if str(model).endswith(".onnx"):
        if not Path(model).exists():
            raise BackendError(f"ONNX file {model} does not exist; export one with 'nircolor export'")
        return Path(model)
    shipped = zoo.shipped_onnx(model)
    if shipped is not None and (io, fp16, graph) == ("uint8", False, "frame"):
        return shipped
    source = zoo.resolve(model)
    digest = zoo.file_sha256(source)[:16]
    path = cache_dir() / "onnx" / f"{source.stem}-{digest}-{graph}-{io}{'-fp16' if fp16 else ''}.onnx"
    _drop_if_damaged(path, "exporting it again")
    if not path.exists():
        try:
            from nircolor.export.pipeline import export_checked
        except ImportError as exc:
            raise BackendError(f"{model} has no shipped ONNX file in this form, and exporting one needs PyTorch ({exc}): "
                               "pip install 'nircolor[train]', or pass an ONNX file exported elsewhere") from None
        print(f"exporting {source.name} to {path} (once; checked against PyTorch)")
        export_checked(source, path, io=io, fp16=fp16, graph=graph)
        _seal(path)
    return path


def _int8_for(model: str, io: str, graph: str) -> Path:
    fp32 = onnx_for(model, io=io, graph=graph)
    if read_metadata(fp32)["precision"] == "int8":
        return fp32
    from nircolor.export import int8

    # The recipe in the name: a cache of an older recipe is not taken for this one.
    path = cache_dir() / "onnx" / f"{fp32.stem}-{zoo.file_sha256(fp32)[:16]}-int8-first{int8.FLOAT_FIRST_CONVS}.onnx"
    _drop_if_damaged(path, "quantizing it again")
    if not path.exists():
        print(f"quantizing {fp32.name} to INT8 into {path} (once; calibrated on the shipped sample frames, checked against FP32)")
        int8.quantize(fp32, path, int8.calibration_frames())
        _seal(path)
    return path


def _checksum_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _seal(path: Path) -> None:
    """Record a checked cache entry's SHA-256 beside it (written whole, then renamed)."""
    sidecar = _checksum_file(path)
    partial = sidecar.with_name(sidecar.name + ".partial")
    partial.write_text(zoo.file_sha256(path) + "\n")
    partial.replace(sidecar)


def _drop_if_damaged(path: Path, remedy: str) -> None:
    if path.exists() and not _intact(path):
        print(f"the cached {path} is damaged or unchecked; {remedy}")
        path.unlink()
        _checksum_file(path).unlink(missing_ok=True)


def _intact(path: Path) -> bool:
    """A cached export whose bytes are the ones checked when it was made (its SHA-256 sidecar),
    and that carries our metadata. Exports are renamed into the cache only once checked, so this
    catches damage after the fact: a bad disk, a stray edit, bit rot that keeps the size."""
    sidecar = _checksum_file(path)
    try:
        if sidecar.read_text().strip() != zoo.file_sha256(path):
            return False
        read_metadata(path)
        return True
    except (OSError, OnnxModelError):
        return False


class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"

    def __init__(self, model: str, provider: str = "auto", fp16: bool = False, threads: int | None = None, whole_frames: bool = True,
                 int8: bool = False):
        super().__init__()
        if fp16 and int8:
            raise BackendError("choose one of FP16 and INT8")
        self.model, self.provider, self.fp16, self.int8, self.threads = model, provider, fp16, int8, threads
        self.graph = "frame" if whole_frames else "network"  # for checkpoints; an ONNX file says what it is

    def _load_impl(self) -> ModelInfo:
        import onnxruntime as ort

        from nircolor.export.ort_providers import choose

        path = onnx_for(self.model, fp16=self.fp16, graph=self.graph, int8=self.int8)
        meta = read_metadata(path)
        providers, why = choose(ort.get_available_providers(), self.provider, fp16=self.fp16, cache_dir=cache_dir())
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        # Idle worker threads sleep instead of spinning: in the pipeline, decoding and encoding
        # share these cores, and spinning threads take the time those stages need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=[p for p, _ in providers], provider_options=[o for _, o in providers])
        self.io, self.meta = meta["io"], meta
        self.input_name = self.session.get_inputs()[0].name
        device = self.session.get_providers()[0]
        return ModelInfo(path.stem, meta["architecture"], meta["pad_multiple"], meta["precision"], device, {"why": why, "io": self.io, "path": str(path)},
                         meta["infer_size"], whole_frames=meta["graph"] == "frame")

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        if self.io == "uint8":
            return self.session.run(None, {self.input_name: batch})[0]
        y = self.session.run(None, {self.input_name: nir_to_network(batch, self.meta["input_range"])})[0]
        return network_to_rgb(y, self.meta["output_range"])

    def _close_impl(self) -> None:
        del self.session

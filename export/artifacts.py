"""Loaders: a model string (a shipped model's name, a checkpoint, an ONNX file, a TensorRT plan)
made into the checked file a runner can load, in the cache where it has to be made: an export
of a checkpoint, its INT8 quantization, a TensorRT engine. Runners (runtime/backends) only load
what they are given; `backends.create` asks here first.

Every cached artefact is checked when made (parity against its source) and sealed with its
SHA-256 beside it; one that no longer matches its seal is made again, never trusted."""

from __future__ import annotations

from pathlib import Path

from nircolor import files
from nircolor.models import zoo
from nircolor.runtime.backends.base import BackendError

from .engine_file import cache_root
from .formats import PLAN_SUFFIXES, get, missing_modules
from .metadata import OnnxModelError, read_metadata


class ArtifactError(BackendError):
    """A model cannot be made into the file a runner needs; the message says what to install or pass."""


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
            raise ArtifactError(f"ONNX file {model} does not exist; export one with 'nircolor export'")
        return Path(model)
    shipped = zoo.shipped_onnx(model)
    if shipped is not None and (io, fp16, graph) == ("uint8", False, "frame"):
        return shipped
    source = zoo.resolve(model)
    digest = zoo.file_sha256(source)[:16]
    path = cache_root() / "onnx" / f"{source.stem}-{digest}-{graph}-{io}{'-fp16' if fp16 else ''}.onnx"
    _drop_if_damaged(path, "exporting it again")
    if not path.exists():
        missing = missing_modules(get("onnx"))
        if missing:
            raise ArtifactError(f"{model} has no shipped ONNX file in this form, and exporting one needs {', '.join(missing)}: "
                                "pip install 'nircolor[train]', or pass an ONNX file exported elsewhere")
        from .pipeline import export_checked

        print(f"exporting {source.name} to {path} (once; checked against PyTorch)")
        export_checked(source, path, io=io, fp16=fp16, graph=graph)
        _seal(path)
    return path


def _int8_for(model: str, io: str, graph: str) -> Path:
    fp32 = onnx_for(model, io=io, graph=graph)
    if read_metadata(fp32)["precision"] == "int8":
        return fp32
    from . import int8

    # The recipe in the name: a cache of an older recipe is not taken for this one.
    path = cache_root() / "onnx" / f"{fp32.stem}-{zoo.file_sha256(fp32)[:16]}-int8-first{int8.FLOAT_FIRST_CONVS}.onnx"
    _drop_if_damaged(path, "quantizing it again")
    if not path.exists():
        print(f"quantizing {fp32.name} to INT8 into {path} (once; calibrated on the shipped sample frames, checked against FP32)")
        int8.quantize(fp32, path, int8.calibration_frames())
        _seal(path)
    return path


def engine_for(model: str, fp16: bool = True, shapes: str | None = None, graph: str = "frame") -> Path:
    """A TensorRT plan: itself if it is one, else the engine built (and checked) from the model's
    uint8 ONNX graph for this GPU, cached by export/tensorrt.py. Needs TensorRT."""
    from . import tensorrt

    tensorrt.require_tensorrt()
    if str(model).endswith(PLAN_SUFFIXES):
        return Path(model)
    return tensorrt.build_engine(onnx_for(model, io="uint8", graph=graph), fp16=fp16, shapes=shapes).path


def _checksum_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _seal(path: Path) -> None:
    """Record a checked cache entry's SHA-256 beside it (written whole, then renamed)."""
    files.write_text(_checksum_file(path), zoo.file_sha256(path) + "\n")


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

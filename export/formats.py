"""The one table of export formats: it drives validation, file suffixes and help text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    description: str
    needs: tuple[str, ...]  # Python modules the step imports
    extra: str  # the pip extra that installs them (pyproject.toml's optional-dependencies)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", "ONNX, FP32 weights and activations", ("torch", "onnx", "onnxscript"), "train"),
        ExportFormat("onnx-fp16", ".fp16.onnx", "ONNX, FP16 weights and activations, FP32 inputs and outputs kept",
                     ("torch", "onnx", "onnxscript"), "train"),
        ExportFormat("onnx-int8", ".int8.onnx", "ONNX, static INT8 (QDQ) for ONNX Runtime on CPUs, calibrated on real frames",
                     ("onnx", "onnxruntime"), "cpu"),
        ExportFormat("onnx-int8-trt", ".int8-trt.onnx", "ONNX, symmetric INT8 (QDQ) for TensorRT's explicit quantization",
                     ("onnx", "onnxruntime"), "cpu"),
        ExportFormat("engine", ".plan", "TensorRT plan (trtexec, Triton and DeepStream load it) with a .json sidecar", ("tensorrt",), "tensorrt"),
        ExportFormat("triton", "", "Triton model repository: the frame graph for ONNX Runtime and for its TensorRT "
                     "accelerator, dynamic batching", ("onnx", "onnxscript"), "train"),
    )
}


class FormatError(ValueError):
    pass


def get(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise FormatError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}") from None


def default_graph(io: str) -> str:
    """The self-contained frame graph where it can be (uint8 frames in and out), else the network."""
    return "frame" if io == "uint8" else "network"


def require(fmt: ExportFormat) -> None:
    """Refuse before any work, naming the extra that installs what the step needs."""
    missing = missing_modules(fmt)
    if missing:
        torch_first = " (install torch first, as the README says: a loose range pulls a multi-GB CUDA build)" if "torch" in missing else ""
        raise FormatError(f"{fmt.name} export needs {', '.join(missing)}, which is not installed: "
                          f"pip install 'nircolor[{fmt.extra}]'{torch_first}")


def missing_modules(fmt: ExportFormat) -> list[str]:
    """The modules the step needs that this install cannot import."""
    return [m for m in fmt.needs if not installed(m)]


def installed(module: str) -> bool:
    """The module can be imported here (without importing it)."""
    import importlib.util
    import sys

    if module in sys.modules:
        return sys.modules[module] is not None  # None: its import was made to fail
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a module without a spec
        return False


def default_path(source: str | Path, fmt: ExportFormat, io: str = "uint8", graph: str = "frame") -> Path:
    """`weights/snet16.pt` -> `snet16.onnx` (the frame graph), `snet16.fp16.onnx`,
    `snet16.network-float32.onnx` (the bare network), ... in the current folder."""
    stem = Path(source).name.split(".")[0]
    if fmt.name == "triton":
        return Path("model_repository")
    tag = "" if graph == "frame" else f".network-{io}"
    return Path(f"{stem}{tag}{fmt.suffix}")


def help_text() -> str:
    return "; ".join(f"{f.name} ({f.suffix or 'a folder'}): {f.description}" for f in FORMATS.values())


# The file decides its runner: which backends can open each kind of model.
PLAN_SUFFIXES = (".plan", ".engine")
RUNNERS_FOR_KIND: dict[str, tuple[str, ...]] = {
    "plan": ("tensorrt",),  # a TensorRT engine: that GPU's TensorRT only
    "onnx": ("tensorrt", "onnxruntime"),
    "checkpoint": ("tensorrt", "onnxruntime", "torch"),  # a .pt file or a shipped model's name
}


def kind_of(model: str | Path) -> str:
    """plan, onnx or checkpoint, from the file's suffix (a shipped model's name is a checkpoint)."""
    suffix = Path(str(model)).suffix.lower()
    if suffix in PLAN_SUFFIXES:
        return "plan"
    return "onnx" if suffix == ".onnx" else "checkpoint"


"""Backends by name, and `auto`: the fastest one present, with the reason."""

from __future__ import annotations

import importlib.util

from .base import BackendError, ModelInfo, Runner

BACKENDS = ("tensorrt", "onnxruntime", "torch")


def _cuda() -> bool:
    """A CUDA GPU is usable: asked of the driver itself, so the runtime needs no PyTorch."""
    import ctypes

    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def pick(name: str = "auto") -> tuple[str, str]:
    """(backend, why). auto: TensorRT on a CUDA GPU with the tensorrt package; else ONNX Runtime
    (its best execution provider; measured about 3x PyTorch's speed on a 2-core CPU, see
    benchmarks/results); else PyTorch."""
    if name != "auto":
        if name not in BACKENDS:
            raise BackendError(f"unknown backend {name!r}; choose auto or one of {', '.join(BACKENDS)}")
        return name, "asked for"
    has_trt = importlib.util.find_spec("tensorrt") is not None
    if has_trt and _cuda():
        return "tensorrt", "TensorRT and a CUDA GPU are present"
    if importlib.util.find_spec("onnxruntime") is not None:
        reason = "no TensorRT package" if not has_trt else "no CUDA GPU for TensorRT"
        return "onnxruntime", f"{reason}; ONNX Runtime is the fastest backend present"
    return "torch", "neither TensorRT nor ONNX Runtime is installed"


def _pick_for(name: str, model: str) -> tuple[str, str]:
    """The backend for this model file: only runners that can open its kind (a TensorRT plan runs
    on TensorRT alone; an ONNX file not on PyTorch), `auto` choosing among those present."""
    from nircolor.export.formats import RUNNERS_FOR_KIND, kind_of

    kind = kind_of(model)
    allowed = RUNNERS_FOR_KIND[kind]
    if name != "auto":
        backend, why = pick(name)
        if backend not in allowed:
            what = {"plan": "a TensorRT plan", "onnx": "an ONNX file", "checkpoint": "a checkpoint"}[kind]
            raise BackendError(f"{model} is {what}, which the {backend} backend cannot run; use --backend {' or '.join(allowed)}"
                               + (" on the NVIDIA GPU it was built for (pip install 'nircolor[tensorrt]')" if kind == "plan" else ""))
        return backend, why
    if kind == "plan":
        if importlib.util.find_spec("tensorrt") is None or not _cuda():
            raise BackendError(f"{model} is a TensorRT plan: it runs only with TensorRT on the NVIDIA GPU it was built for "
                               "(pip install 'nircolor[tensorrt]'); elsewhere pass the .onnx file it was built from")
        return "tensorrt", "a TensorRT plan runs on TensorRT"
    backend, why = pick("auto")
    if backend not in allowed:
        raise BackendError(f"{model} is an ONNX file and neither TensorRT nor ONNX Runtime is installed: pip install 'nircolor[cpu]'")
    return backend, why


def create(name: str, model: str, fp16: bool = False, device: str = "auto", threads: int | None = None,
           whole_frames: bool = True, int8: bool = False) -> tuple[Runner, str]:
    """`whole_frames`: run a checkpoint as the self-contained frame graph (what an exported file
    does; the default), or as the bare network with the host padding and upsampling around it.
    `int8`: the statically quantized graph (ONNX Runtime; for TensorRT, a plan built with
    `nircolor build --int8`)."""
    backend, why = _pick_for(name, model)
    if int8 and backend != "onnxruntime":
        raise BackendError(f"INT8 here runs on ONNX Runtime only; for TensorRT build an INT8 plan with "
                           f"'nircolor build --int8 --onnx MODEL.int8-trt.onnx' and pass the plan as --model (backend {backend} asked)")
    graph = "frame" if whole_frames else "network"  # for checkpoints; an ONNX file or a plan says what it is
    # Loaders make the file (an export, a quantization, an engine: cached, checked); runners load it.
    if backend == "tensorrt":
        from nircolor.export.artifacts import engine_for

        from .tensorrt_backend import TensorRTRunner

        return TensorRTRunner(engine_for(model, fp16=fp16 or name == "auto", graph=graph)), why
    if backend == "onnxruntime":
        from nircolor.export.artifacts import onnx_for

        from .onnxruntime_backend import OnnxRuntimeRunner

        if fp16 and int8:
            raise BackendError("choose one of FP16 and INT8")
        provider = {"auto": "auto", "cpu": "cpu", "cuda": "cuda"}.get(device, "auto")
        return OnnxRuntimeRunner(onnx_for(model, fp16=fp16, graph=graph, int8=int8), provider=provider, fp16=fp16, threads=threads), why
    from .torch_backend import TorchRunner

    return TorchRunner(model, device=device, fp16=fp16, threads=threads, whole_frames=whole_frames), why


__all__ = ["BACKENDS", "BackendError", "ModelInfo", "Runner", "create", "pick"]

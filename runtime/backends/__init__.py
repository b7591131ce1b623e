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


def create(name: str, model: str, fp16: bool = False, device: str = "auto", threads: int | None = None,
           whole_frames: bool = True, int8: bool = False) -> tuple[Runner, str]:
    """`whole_frames`: run a checkpoint as the self-contained frame graph (what an exported file
    does; the default), or as the bare network with the host padding and upsampling around it.
    `int8`: the statically quantized graph (ONNX Runtime; for TensorRT, a plan built with
    `nircolor build --int8`)."""
    backend, why = pick(name)
    if int8 and backend != "onnxruntime":
        raise BackendError(f"INT8 here runs on ONNX Runtime only; for TensorRT build an INT8 plan with "
                           f"'nircolor build --int8 --onnx MODEL.int8-trt.onnx' and pass the plan as --model (backend {backend} asked)")
    if backend == "tensorrt":
        from .tensorrt_backend import TensorRTRunner

        return TensorRTRunner(model, fp16=fp16 or name == "auto", whole_frames=whole_frames), why
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeRunner

        provider = {"auto": "auto", "cpu": "cpu", "cuda": "cuda"}.get(device, "auto")
        return OnnxRuntimeRunner(model, provider=provider, fp16=fp16, threads=threads, whole_frames=whole_frames,
                                 int8=int8), why
    from .torch_backend import TorchRunner

    return TorchRunner(model, device=device, fp16=fp16, threads=threads, whole_frames=whole_frames), why


__all__ = ["BACKENDS", "BackendError", "ModelInfo", "Runner", "create", "pick"]

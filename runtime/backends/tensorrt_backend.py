"""TensorRT backend: a TensorRT plan with its nircolor sidecar (`nircolor build`), or an ONNX
model/checkpoint built into the engine cache for this GPU on first use (the cache `nircolor
build` fills too). TensorRT and cuda-python (device buffers, streams) are imported only when a
plan loads; PyTorch is not used at all, so a Jetson or a DeepStream box runs plans without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nircolor.export import engine_file
from nircolor.export.engine_file import EngineFileError, EngineHeader, Profile
from nircolor.runtime.frames import network_to_rgb_float, nir_to_network, rgb_float_to_uint8

from .base import ModelInfo, Runner


class CudaUnavailable(ImportError):
    pass


def _cudart():
    """cuda-python's runtime API (cuda.bindings.runtime since 12.6; cuda.cudart before)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise CudaUnavailable("running a TensorRT plan needs cuda-python for device buffers: pip install 'nircolor[tensorrt]' "
                                  "(or pip install cuda-python)") from None
    return cudart


def _check(result, what: str):
    """cuda-python returns (error, *values); raise on an error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA {what} failed: {err}; check the GPU and its driver (nvidia-smi)")
    return values[0] if len(values) == 1 else values


def compute_capability(device: int = 0) -> str:
    from nircolor.export.tensorrt import TensorRTUnavailable

    try:
        cudart = _cudart()
        count = _check(cudart.cudaGetDeviceCount(), "device count")
    except (CudaUnavailable, RuntimeError) as exc:
        raise TensorRTUnavailable(f"no CUDA GPU is usable ({exc}); TensorRT engines are built on the GPU that will run them") from None
    if count < 1:
        raise TensorRTUnavailable("no CUDA GPU is visible; TensorRT engines are built on the GPU that will run them")
    attr = cudart.cudaDeviceAttr
    major = _check(cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMajor, device), "capability query")
    minor = _check(cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMinor, device), "capability query")
    return f"{major}.{minor}"


class _DeviceBuffer:
    """A device allocation that grows to the largest size asked for and is reused."""

    def __init__(self, cudart):
        self.cudart, self.ptr, self.nbytes = cudart, 0, 0

    def at_least(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(_check(self.cudart.cudaMalloc(nbytes), f"allocation of {nbytes} bytes"))
            self.nbytes = nbytes
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            _check(self.cudart.cudaFree(self.ptr), "free")
            self.ptr, self.nbytes = 0, 0


class PlanRunner:
    """Runs a plan on the GPU: N x 1 x H x W uint8 -> N x H x W x 3 in [0, 255] (check.Runner's
    contract), uint8 from a uint8 graph, float otherwise. Upload, execution and download are all
    queued on one CUDA stream, so the engine never reads an input still being written."""

    def __init__(self, path: str | Path, wanted: EngineHeader | None = None):
        from nircolor.export.tensorrt import require_tensorrt

        trt = require_tensorrt()
        self.cudart = _cudart()
        self.header, data = engine_file.read_engine(path, wanted)
        self.profile = Profile(*(tuple(s) for s in self.header.profile))
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(data)
        if self.engine is None:
            raise EngineFileError(f"TensorRT {trt.__version__} could not load {path}; rebuild it on this machine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.io = self.header.model["io"]
        self.stream = _check(self.cudart.cudaStreamCreate(), "stream creation")
        self.device_in, self.device_out = _DeviceBuffer(self.cudart), _DeviceBuffer(self.cudart)

    def __call__(self, nir: np.ndarray) -> np.ndarray:
        if not self.profile.admits(nir.shape):
            raise ValueError(f"input shape {nir.shape} is outside the engine's profile {self.header.profile}; rebuild with --shapes covering it")
        cudart = self.cudart
        host_in = np.ascontiguousarray(nir if self.io == "uint8" else nir_to_network(nir, self.header.model["input_range"]))
        self.context.set_input_shape(self.input, tuple(host_in.shape))
        host_out = np.empty(tuple(self.context.get_tensor_shape(self.output)), np.uint8 if self.io == "uint8" else np.float32)
        src, dst = self.device_in.at_least(host_in.nbytes), self.device_out.at_least(host_out.nbytes)
        kinds = cudart.cudaMemcpyKind
        _check(cudart.cudaMemcpyAsync(src, host_in.ctypes.data, host_in.nbytes, kinds.cudaMemcpyHostToDevice, self.stream), "upload")
        self.context.set_tensor_address(self.input, src)
        self.context.set_tensor_address(self.output, dst)
        if not self.context.execute_async_v3(int(self.stream)):
            raise EngineFileError(f"TensorRT could not run the engine on input {nir.shape}; see TensorRT's log above, "
                                  "and rebuild the engine on this machine with 'nircolor build'")
        _check(cudart.cudaMemcpyAsync(host_out.ctypes.data, dst, host_out.nbytes, kinds.cudaMemcpyDeviceToHost, self.stream), "download")
        _check(cudart.cudaStreamSynchronize(self.stream), "stream synchronisation")
        return host_out if self.io == "uint8" else network_to_rgb_float(host_out, self.header.model["output_range"])

    def close(self) -> None:
        self.device_in.free()
        self.device_out.free()
        if self.stream is not None:
            _check(self.cudart.cudaStreamDestroy(self.stream), "stream destruction")
            self.stream = None


class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, path: str | Path):
        """`path`: a plan with its sidecar (export.artifacts.engine_for builds one from a model)."""
        super().__init__()
        self.path = Path(path)

    def _load_impl(self) -> ModelInfo:
        self.runner = PlanRunner(self.path)
        header = self.runner.header
        return ModelInfo(self.path.stem, header.model["architecture"], header.model["pad_multiple"], header.precision,
                         f"cuda (compute {header.compute_capability})", {"profile": header.profile},
                         header.model.get("infer_size"), whole_frames=header.model.get("graph") == "frame")

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        out = self.runner(batch)
        return out if out.dtype == np.uint8 else rgb_float_to_uint8(out)

    def _close_impl(self) -> None:
        self.runner.close()
        del self.runner

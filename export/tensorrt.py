"""ONNX -> TensorRT engine, written against the TensorRT Python API (8.6 and 10.x).

TensorRT is imported only inside these functions: without it the rest of nircolor works and
`require_tensorrt()` says what to install. Engines are written with a nircolor header
(engine_file.py) and kept in a cache keyed on it; a build is accepted only if its output on real
frames stays within FP16_MIN_PSNR of ONNX Runtime FP32 and holds no NaN/Inf (the accuracy guard).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..models.upsample import GuidedUpsampling
from . import check, engine_file
from .engine_file import EngineFileError, EngineHeader, Profile
from .onnx import read_metadata

WORKSPACE_BYTES = 2 << 30
# Layer kinds that overflow or lose too much in half precision; kept in FP32 in FP16 builds.
FP32_LAYER_TYPES = ("NORMALIZATION", "REDUCE", "SOFTMAX")
FP32_NAME_HINTS = ("batchnorm", "batch_norm", "instancenorm", "layernorm", "normalization")


class TensorRTUnavailable(ImportError):
    pass


class EngineBuildError(RuntimeError):
    pass


def require_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTUnavailable(
            "TensorRT's Python package is not installed: on an NVIDIA GPU or Jetson, pip install 'nircolor[tensorrt]' "
            "(NVIDIA's index) or use NVIDIA's TensorRT container; without it, run the ONNX model with ONNX Runtime"
        ) from None
    return trt


def compute_capability() -> str:
    import torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailable("no CUDA GPU is visible; TensorRT engines are built on the GPU that will run them")
    major, minor = torch.cuda.get_device_capability()
    return f"{major}.{minor}"


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def keep_in_fp32(layer_type: str, layer_name: str) -> bool:
    """Whether an FP16 build pins this layer to FP32 (normalisation and reductions)."""
    name = layer_name.lower()
    return layer_type in FP32_LAYER_TYPES or any(h in name for h in FP32_NAME_HINTS)


def wanted_header(onnx_path: str | Path, precision: str, profile: Profile, tensorrt_version: str, capability: str) -> EngineHeader:
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp32 or fp16, got {precision!r}")
    return EngineHeader(sha256_of(onnx_path), tensorrt_version, capability, precision, profile.to_list(), read_metadata(onnx_path))


def _serialize(trt, onnx_path: Path, precision: str, profile: Profile, timing_cache: Path | None) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            raise EngineBuildError("this GPU has no fast FP16; build with precision fp32")
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if keep_in_fp32(layer.type.name, layer.name):
                layer.precision = trt.float32
                for j in range(layer.num_outputs):
                    if layer.get_output(j).dtype in (trt.float32, trt.float16):
                        layer.set_output_type(j, trt.float32)
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(network.get_input(0).name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt_profile)
    cache = None
    if timing_cache is not None:
        cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.exists() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"TensorRT failed to build an engine from {onnx_path}; see its log above")
    if cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


class TensorRTRunner:
    """Runs a nircolor engine on the GPU with torch tensors as device buffers."""

    def __init__(self, path: str | Path, wanted: EngineHeader | None = None):
        trt = require_tensorrt()
        import torch

        self.header, data = engine_file.read_engine(path, wanted)
        self.profile = Profile(*(tuple(s) for s in self.header.profile))
        self._torch = torch
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(data)
        if self.engine is None:
            raise EngineFileError(f"TensorRT {trt.__version__} could not load {path}; rebuild it on this machine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.io = self.header.model["io"]
        self.stream = torch.cuda.Stream()

    def __call__(self, nir: np.ndarray) -> np.ndarray:
        """N x 1 x H x W uint8 -> N x H x W x 3 in [0, 255] (check.Runner's contract): uint8 from a
        uint8 graph (copied back as the 1 byte a pixel it is, not as float), float otherwise."""
        torch = self._torch
        if not self.profile.admits(nir.shape):
            raise ValueError(f"input shape {nir.shape} is outside the engine's profile {self.header.profile}; rebuild with --shapes covering it")
        # Upload, execution and download are all queued on the engine's stream, so the engine
        # never reads an input that another stream is still writing.
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(nir).cuda(non_blocking=True)
            if self.io == "float32":
                x = x.float() / 255.0
            self.context.set_input_shape(self.input, tuple(x.shape))
            out_shape = tuple(self.context.get_tensor_shape(self.output))
            y = torch.empty(out_shape, dtype=torch.uint8 if self.io == "uint8" else torch.float32, device="cuda")
            self.context.set_tensor_address(self.input, x.data_ptr())
            self.context.set_tensor_address(self.output, y.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise EngineFileError(f"TensorRT could not run the engine on input {nir.shape}; see TensorRT's log above, "
                                      "and rebuild the engine on this machine with 'nircolor build'")
            host = y.cpu() if self.io == "uint8" else ((y + 1.0) * 127.5).permute(0, 2, 3, 1).cpu()
        self.stream.synchronize()
        return host.numpy()


@dataclass
class BuildResult:
    path: Path
    header: EngineHeader
    parity: check.ParityReport | None
    cached: bool


def accuracy_guard(reference: check.Runner, candidate: check.Runner, frames: Sequence[np.ndarray], path: Path) -> check.ParityReport:
    """Refuse an engine whose output on real frames has a NaN/Inf or falls under the floor."""
    report = check.compare(reference, candidate, frames, ("ONNX Runtime FP32", "TensorRT"))
    if not report.passed(check.FP16_MIN_PSNR):
        raise EngineBuildError(f"refused engine {path}: {report} (needs at least {check.FP16_MIN_PSNR:.0f} dB and no NaN/Inf)")
    return report


def _at_working_size(nir, infer_size: int | None):
    up = GuidedUpsampling.for_frame(*nir.shape, infer_size)
    return up.downscale(nir) if up else nir


def build_engine(
    onnx_path: str | Path,
    out: str | Path | None = None,
    fp16: bool = True,
    shapes: str | None = None,
    cache_dir: str | Path = ".nircolor-cache",
    reference_onnx: str | Path | None = None,
    check_data: str | Path | None = None,
) -> BuildResult:
    """Build (or reuse from the cache) an engine for this GPU. `shapes` defaults to the model's
    working size (engine_file.default_shapes). `reference_onnx` is the FP32 ONNX model the guard
    compares against (default: the model being built)."""
    trt = require_tensorrt()
    onnx_path = Path(onnx_path)
    meta = read_metadata(onnx_path)
    frame_graph = meta["graph"] == "frame"  # whole camera frames of any size, not padded working-size inputs
    multiple = 1 if frame_graph else meta["pad_multiple"]
    shapes = shapes or (engine_file.FRAME_GRAPH_SHAPES if frame_graph else engine_file.default_shapes(meta.get("infer_size"), multiple))
    profile = engine_file.parse_shapes(shapes, multiple)
    wanted = wanted_header(onnx_path, "fp16" if fp16 else "fp32", profile, trt.__version__, compute_capability())
    target = Path(out) if out is not None else engine_file.cache_path(cache_dir, onnx_path, wanted)
    if target.exists():
        try:
            header, _ = engine_file.read_engine(target, wanted)
            return BuildResult(target, header, None, cached=True)
        except EngineFileError as exc:
            print(f"rebuilding: {exc}")
    engine = _serialize(trt, onnx_path, wanted.precision, profile, Path(cache_dir) / f"timing-{wanted.compute_capability}-{trt.__version__}.cache")
    partial = target.with_name(target.name + ".unchecked")
    engine_file.write(partial, wanted, engine)
    # The guard feeds sample frames as the runtime will: seen at the model's working size.
    if frame_graph:
        candidates = check.frame_samples(check.sample_frames(check_data))
    else:
        seen = [_at_working_size(nir, meta.get("infer_size")) for nir in check.sample_frames(check_data)]
        candidates = check.pad_frames(seen, meta["pad_multiple"])
    frames = [f for f in candidates if profile.admits(f.shape)]
    if not frames:
        partial.unlink(missing_ok=True)
        raise EngineBuildError(f"no sample frame fits the profile {shapes}; widen --shapes or pass --check-data with frames inside it")
    try:
        report = accuracy_guard(check.onnx_runner(reference_onnx or onnx_path), TensorRTRunner(partial, wanted), frames, target)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return BuildResult(target, wanted, report, cached=False)

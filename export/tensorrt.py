"""ONNX -> TensorRT engine, written against the TensorRT Python API (8.6 and 10.x).

TensorRT is imported only inside these functions: without it the rest of nircolor works and
`require_tensorrt()` says what to install. Engines are plain TensorRT plans with a nircolor
sidecar (engine_file.py), kept in one cache keyed on it (shared by `build`, `run` and the Docker
images' volume); a build is accepted only if its output on real frames stays within
FP16_MIN_PSNR of ONNX Runtime FP32 and holds no NaN/Inf (the accuracy guard).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from nircolor import files

from ..models.upsample import GuidedUpsampling
from . import check, engine_file
from .engine_file import EngineFileError, EngineHeader, Profile
from .metadata import read_metadata

WORKSPACE_BYTES = 2 << 30
PRECISIONS = ("fp32", "fp16", "int8")


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


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def keep_in_fp32(layer_name: str, fp32_nodes: set[str]) -> bool:
    """Whether an FP16 build pins this layer to FP32: the frame graph's own nodes around the
    network, listed by the export in the `fp32_nodes` metadata (export.onnx.frame_level_nodes).
    TensorRT's ONNX parser names each layer after its node."""
    return layer_name in fp32_nodes


def wanted_header(onnx_path: str | Path, precision: str, profile: Profile, tensorrt_version: str, capability: str) -> EngineHeader:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return EngineHeader(sha256_of(onnx_path), tensorrt_version, capability, precision, profile.to_list(), read_metadata(onnx_path))


def _serialize(trt, onnx_path: Path, precision: str, profile: Profile, timing_cache: Path | None, fp32_nodes: set[str]) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if precision == "int8" and major >= 10:
        # Explicit quantization: the QDQ graph's types decide each layer's precision (TensorRT 10
        # asks for a strongly typed network and no precision flags).
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "int8" and major < 10:
        config.set_flag(trt.BuilderFlag.INT8)  # 8.6 reads the Q/DQ layers only with the INT8 flag set
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            raise EngineBuildError("this GPU has no fast FP16; build with precision fp32")
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if keep_in_fp32(layer.name, fp32_nodes):
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
        files.write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


@dataclass
class BuildResult:
    path: Path
    header: EngineHeader
    parity: check.ParityReport | None
    cached: bool


def accuracy_guard(reference: check.Runner, candidate: check.Runner, frames: Sequence[np.ndarray], path: Path,
                   floor: float = check.FP16_MIN_PSNR) -> check.ParityReport:
    """Refuse an engine whose output on real frames has a NaN/Inf or falls under the floor."""
    report = check.compare(reference, candidate, frames, ("ONNX Runtime FP32", "TensorRT"))
    if not report.passed(floor):
        raise EngineBuildError(f"refused engine {path}: {report} (needs at least {floor:.0f} dB and no NaN/Inf)")
    return report


def int8_precision_check(meta: dict, onnx_path: Path) -> None:
    """An INT8 plan is built from the TensorRT flavour of the QDQ graph (symmetric int8
    activations): TensorRT refuses the CPU flavour's zero points."""
    if meta.get("precision") != "int8":
        raise EngineBuildError(f"{onnx_path} is {meta.get('precision')}; an INT8 engine is built from a quantized graph: "
                               f"nircolor export --int8 --int8-target tensorrt, then nircolor build --int8 --onnx THAT.onnx")
    if meta.get("int8_target") != "tensorrt":
        raise EngineBuildError(f"{onnx_path} was quantized for {meta.get('int8_target')} (uint8 activations with zero points), "
                               "which TensorRT does not take; export with --int8-target tensorrt")


def _at_working_size(nir, infer_size: int | None):
    up = GuidedUpsampling.for_frame(*nir.shape, infer_size)
    return up.downscale(nir) if up else nir


def build_engine(
    onnx_path: str | Path,
    out: str | Path | None = None,
    fp16: bool = True,
    int8: bool = False,
    shapes: str | None = None,
    cache_dir: str | Path | None = None,
    reference_onnx: str | Path | None = None,
    check_data: str | Path | None = None,
) -> BuildResult:
    """Build (or reuse from the cache) an engine for this GPU. `shapes` defaults to the model's
    working size (engine_file.default_shapes). `reference_onnx` is the FP32 ONNX model the guard
    compares against (default: the model being built). `cache_dir` defaults to the engine cache
    `nircolor run` uses (engine_file.engine_cache()). `int8`: explicit quantization of a QDQ
    graph from `nircolor export --int8 --int8-target tensorrt` (pass its FP32 source as
    `reference_onnx` to guard against the float model)."""
    trt = require_tensorrt()
    cache_dir = Path(cache_dir) if cache_dir is not None else engine_file.engine_cache()
    onnx_path = Path(onnx_path)
    meta = read_metadata(onnx_path)
    if int8:
        int8_precision_check(meta, onnx_path)
    frame_graph = meta["graph"] == "frame"  # whole camera frames of any size, not padded working-size inputs
    multiple = 1 if frame_graph else meta["pad_multiple"]
    shapes = shapes or (engine_file.FRAME_GRAPH_SHAPES if frame_graph else engine_file.default_shapes(meta.get("infer_size"), multiple))
    profile = engine_file.parse_shapes(shapes, multiple)
    from nircolor.runtime.backends.tensorrt_backend import PlanRunner, compute_capability

    wanted = wanted_header(onnx_path, "int8" if int8 else "fp16" if fp16 else "fp32", profile, trt.__version__, compute_capability())
    target = Path(out) if out is not None else engine_file.cache_path(cache_dir, onnx_path, wanted)
    if target.exists():
        try:
            header, _ = engine_file.read_engine(target, wanted)
            return BuildResult(target, header, None, cached=True)
        except EngineFileError as exc:
            print(f"rebuilding: {exc}")
    engine = _serialize(trt, onnx_path, wanted.precision, profile, cache_dir / f"timing-{wanted.compute_capability}-{trt.__version__}.cache",
                        set(meta.get("fp32_nodes", [])))
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
        engine_file.remove(partial)
        raise EngineBuildError(f"no sample frame fits the profile {shapes}; widen --shapes or pass --check-data with frames inside it")
    try:
        from .int8 import INT8_MIN_PSNR

        report = accuracy_guard(check.onnx_runner(reference_onnx or onnx_path), PlanRunner(partial, wanted), frames, target,
                                INT8_MIN_PSNR if int8 else check.FP16_MIN_PSNR)
    except Exception:
        engine_file.remove(partial)
        raise
    engine_file.move(partial, target)
    return BuildResult(target, wanted, report, cached=False)

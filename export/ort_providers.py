"""ONNX Runtime execution providers for machines with onnxruntime-gpu but without the TensorRT
Python package: TensorRT EP (FP16, engine and timing caches on disk), then CUDA EP, then CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine_file import Profile

PREFERENCE = ("tensorrt", "cuda", "cpu")
EP_NAMES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def _shape_text(name: str, shape: tuple[int, ...]) -> str:
    return f"{name}:{'x'.join(str(d) for d in shape)}"


def provider_options(kind: str, fp16: bool = True, cache_dir: str | Path = ".nircolor-cache", profile: Profile | None = None, input_name: str = "nir") -> tuple[str, dict[str, Any]]:
    """(provider name, its options) for one kind."""
    if kind == "tensorrt":
        options: dict[str, Any] = {
            "trt_fp16_enable": fp16,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(Path(cache_dir) / "ort-trt"),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(Path(cache_dir) / "ort-trt"),
        }
        if profile is not None:
            options["trt_profile_min_shapes"] = _shape_text(input_name, profile.min)
            options["trt_profile_opt_shapes"] = _shape_text(input_name, profile.opt)
            options["trt_profile_max_shapes"] = _shape_text(input_name, profile.max)
        return EP_NAMES[kind], options
    if kind == "cuda":
        return EP_NAMES[kind], {"cudnn_conv_algo_search": "EXHAUSTIVE"}
    if kind == "cpu":
        return EP_NAMES[kind], {}
    raise ValueError(f"unknown execution provider {kind!r}; choose from {', '.join(PREFERENCE)}")


def choose(available: list[str], wanted: str = "auto", **options) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """Providers to hand InferenceSession, best first, and a sentence saying which and why.
    `wanted` is auto or one kind; asking for one this onnxruntime lacks is an error, not a
    quiet fallback."""
    kinds = PREFERENCE if wanted == "auto" else (wanted,)
    if wanted != "auto" and wanted not in PREFERENCE:
        raise ValueError(f"unknown execution provider {wanted!r}; choose auto or one of {', '.join(PREFERENCE)}")
    chosen = [provider_options(k, **options) for k in kinds if EP_NAMES[k] in available]
    if not chosen:
        raise ValueError(
            f"onnxruntime here offers {', '.join(available)}, not {EP_NAMES[wanted]}; on a CUDA machine install "
            "onnxruntime-gpu, otherwise run with --device cpu (or --device auto)"
        )
    if wanted == "auto" and chosen[-1][0] != EP_NAMES["cpu"] and EP_NAMES["cpu"] in available:
        chosen.append(provider_options("cpu"))  # ONNX Runtime places unsupported nodes here
    missing = [EP_NAMES[k] for k in kinds if EP_NAMES[k] not in available]
    why = f"using {chosen[0][0]}" + (f" ({', '.join(missing)} not in this onnxruntime)" if missing else "")
    return chosen, why


def session(path: str | Path, wanted: str = "auto", **options):
    import onnxruntime as ort

    providers, why = choose(ort.get_available_providers(), wanted, **options)
    sess = ort.InferenceSession(str(path), providers=[p for p, _ in providers], provider_options=[o for _, o in providers])
    return sess, why

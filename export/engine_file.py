"""TensorRT plans with a nircolor sidecar, and the engine cache keyed on it.

A plan is TensorRT's serialized engine exactly as TensorRT writes it, so trtexec
(`--loadEngine`), Triton (`model.plan`) and DeepStream load it as it is. What nircolor needs to
know about it lives beside it in `<plan>.json`: what it was built from and for (ONNX sha256,
TensorRT version, GPU compute capability, precision, profile, the ONNX's nircolor metadata) and
the plan's own sha256. A plan whose sidecar does not match the request, or does not match the
plan, is rebuilt or refused, never loaded blindly. Pure Python: no TensorRT needed to read,
write or check sidecars.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nircolor import files

SIDECAR_SUFFIX = ".json"
PLAN_SUFFIX = ".plan"
HEADER_VERSION = 2
# The embedded-header files of header version 1, recognised only to say they must be rebuilt.
OLD_MAGIC = b"NIRCOLOR-ENGINE\n"
# Fields that must match for an engine to be usable; the rest is information.
KEY_FIELDS = ("onnx_sha256", "tensorrt_version", "compute_capability", "precision", "profile")


class EngineFileError(ValueError):
    """An engine file that cannot be used; the message names the file, why, and what to do."""


def cache_root() -> Path:
    """nircolor's cache: $NIRCOLOR_CACHE (the Docker images' /cache volume), else ~/.cache/nircolor.
    `nircolor build`, `nircolor run` and the images share its engines/ folder."""
    return Path(os.environ.get("NIRCOLOR_CACHE", Path.home() / ".cache" / "nircolor"))


def engine_cache() -> Path:
    return cache_root() / "engines"


@dataclass(frozen=True)
class Profile:
    """Input shapes (N, 1, H, W) the engine accepts: min, opt and max."""

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def to_list(self) -> list[list[int]]:
        return [list(self.min), list(self.opt), list(self.max)]

    def admits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 4 and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max))


@dataclass(frozen=True)
class EngineHeader:
    onnx_sha256: str
    tensorrt_version: str
    compute_capability: str  # "8.6", "9.0", "8.7" (Orin) ...
    precision: str  # "fp32" | "fp16"
    profile: list[list[int]]
    model: dict[str, Any]  # the ONNX file's nircolor metadata (ranges, padding, io, provenance)
    header_version: int = HEADER_VERSION

    def cache_key(self) -> str:
        ident = json.dumps({k: getattr(self, k) for k in KEY_FIELDS}, sort_keys=True)
        return hashlib.sha256(ident.encode()).hexdigest()[:16]

    def mismatches(self, wanted: "EngineHeader") -> list[str]:
        """Each key field that differs, as 'field: have X, want Y'."""
        return [f"{k}: engine has {getattr(self, k)!r}, needed {getattr(wanted, k)!r}" for k in KEY_FIELDS if getattr(self, k) != getattr(wanted, k)]


def sidecar_path(plan: str | Path) -> Path:
    plan = Path(plan)
    return plan.with_name(plan.name + SIDECAR_SUFFIX)


def write(path: str | Path, header: EngineHeader, engine: bytes) -> Path:
    """The plan at `path` and its sidecar beside it. The sidecar goes last: a crash leaves at
    worst a plan without one, which nircolor rebuilds rather than trusts."""
    path = Path(path)
    sidecar = sidecar_path(path)
    sidecar.unlink(missing_ok=True)
    files.write_bytes(path, bytes(engine))
    blob = {**asdict(header), "plan_sha256": hashlib.sha256(bytes(engine)).hexdigest()}
    files.write_text(sidecar, json.dumps(blob, indent=1, sort_keys=True) + "\n")
    return path


def read_header(path: str | Path) -> tuple[EngineHeader, str]:
    """The sidecar's header and the plan sha256 it vouches for."""
    path = Path(path)
    if not path.exists():
        raise EngineFileError(f"engine {path} does not exist; build it with 'nircolor build --onnx MODEL.onnx'")
    with open(path, "rb") as f:
        if f.read(len(OLD_MAGIC)) == OLD_MAGIC:
            raise EngineFileError(f"{path} is an engine in nircolor's old format (header inside the file); rebuild it with "
                                  "'nircolor build': engines are now plain TensorRT plans with a .json sidecar")
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        raise EngineFileError(f"{path} has no sidecar {sidecar.name}: nircolor cannot tell what it was built from and for; "
                              "rebuild it with 'nircolor build' (trtexec, Triton and DeepStream can still load the plan itself)")
    try:
        fields = json.loads(sidecar.read_text())
        plan_sha256 = fields.pop("plan_sha256")
        header = EngineHeader(**fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise EngineFileError(f"{sidecar} is damaged ({exc}); rebuild the engine with 'nircolor build'") from None
    if header.header_version != HEADER_VERSION:
        raise EngineFileError(f"{sidecar} has header version {header.header_version}, this nircolor reads {HEADER_VERSION}; rebuild it")
    return header, plan_sha256


def read_engine(path: str | Path, wanted: EngineHeader | None = None) -> tuple[EngineHeader, bytes]:
    """Header and plan bytes; with `wanted`, an engine that differs in a key field is refused."""
    header, plan_sha256 = read_header(path)
    if wanted is not None:
        problems = header.mismatches(wanted)
        if problems:
            raise EngineFileError(f"{path} was built for something else ({'; '.join(problems)}); rebuild it with 'nircolor build'")
    data = Path(path).read_bytes()
    if not data:
        raise EngineFileError(f"{path} is empty; rebuild it with 'nircolor build'")
    if hashlib.sha256(data).hexdigest() != plan_sha256:
        raise EngineFileError(f"{path} is not the plan its sidecar describes (changed or truncated); rebuild it with 'nircolor build'")
    return header, data


def move(src: str | Path, dst: str | Path) -> Path:
    """Rename a checked plan and its sidecar into place (the sidecar last, as `write` does)."""
    src, dst = Path(src), Path(dst)
    sidecar_path(dst).unlink(missing_ok=True)
    src.replace(dst)
    sidecar_path(src).replace(sidecar_path(dst))
    return dst


def remove(path: str | Path) -> None:
    Path(path).unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


def cache_path(cache_dir: str | Path, onnx_path: str | Path, wanted: EngineHeader) -> Path:
    """Where the engine for this request lives in a cache folder: one plan per key."""
    return Path(cache_dir) / f"{Path(onnx_path).name.split('.')[0]}-{wanted.precision}-{wanted.cache_key()}{PLAN_SUFFIX}"


# A model without a working size sees whole frames. Batches go up to 2, the runtime's offline
# batch (live runs use 1); 1080p at batch 4 would not fit a small Jetson.
FULL_FRAME_SHAPES = "1x240x320/1x480x640/2x1088x1920"


# The frame graph takes camera frames as they come: from its smallest side to 4K, tuned for 720p.
FRAME_GRAPH_SHAPES = "1x17x17/1x720x1280/2x2160x3840"


def default_shapes(infer_size: int | None, pad_multiple: int) -> str:
    """The optimisation profile for a model's inputs: up to its working size (any frame larger is
    downscaled to it first), tuned for one 16:9 frame at that size, batches up to 4; whole frames
    up to 1080p for a model without one."""
    if not infer_size:
        return FULL_FRAME_SHAPES
    side = _round_up(infer_size, pad_multiple)
    return f"1x{pad_multiple}x{pad_multiple}/1x{_round_up(round(infer_size * 9 / 16), pad_multiple)}x{side}/4x{side}x{side}"


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def parse_shapes(text: str, pad_multiple: int) -> Profile:
    """'HxW/HxW/HxW' or 'NxHxW/...' (min/opt/max) -> Profile. Every H and W must be a multiple of
    the model's padding and min <= opt <= max."""
    parts = text.split("/")
    if len(parts) != 3:
        raise ValueError(f"shapes {text!r} must be min/opt/max, e.g. 240x320/480x640/1088x1920")
    dims = []
    for part in parts:
        try:
            nums = [int(v) for v in part.lower().split("x")]
        except ValueError:
            raise ValueError(f"shape {part!r} in {text!r} is not HxW or NxHxW") from None
        if len(nums) == 2:
            nums = [1, *nums]
        if len(nums) != 3 or min(nums) < 1:
            raise ValueError(f"shape {part!r} in {text!r} is not HxW or NxHxW with positive sizes")
        n, h, w = nums
        if h % pad_multiple or w % pad_multiple:
            raise ValueError(f"shape {part!r}: height and width must be multiples of the model's padding {pad_multiple}; "
                             f"use {_round_up(h, pad_multiple)}x{_round_up(w, pad_multiple)}")
        dims.append((n, 1, h, w))
    lo, opt, hi = dims
    if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
        raise ValueError(f"shapes {text!r}: need min <= opt <= max in every dimension")
    return Profile(lo, opt, hi)

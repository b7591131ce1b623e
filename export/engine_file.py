"""TensorRT engine files with a nircolor header, and the engine cache keyed on that header.

Layout: b"NIRCOLOR-ENGINE\\n", a 4-byte little-endian header length, the header as UTF-8 JSON,
then TensorRT's serialized engine. The header records what the engine was built from and for
(ONNX sha256, TensorRT version, GPU compute capability, precision, profile), so a cached engine
that does not match the request is rebuilt or refused, never loaded blindly. Pure Python: no
TensorRT needed to read, write or check headers.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MAGIC = b"NIRCOLOR-ENGINE\n"
HEADER_VERSION = 1
# Fields that must match for an engine to be usable; the rest is information.
KEY_FIELDS = ("onnx_sha256", "tensorrt_version", "compute_capability", "precision", "profile")


class EngineFileError(ValueError):
    """An engine file that cannot be used; the message names the file, why, and what to do."""


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


def write(path: str | Path, header: EngineHeader, engine: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(asdict(header), sort_keys=True).encode()
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:  # write then rename: a crash never leaves half an engine
        f.write(MAGIC + struct.pack("<I", len(blob)) + blob + bytes(engine))
    tmp.replace(path)
    return path


def read_header(path: str | Path) -> tuple[EngineHeader, int]:
    """The header and the byte offset where TensorRT's engine starts."""
    path = Path(path)
    if not path.exists():
        raise EngineFileError(f"engine {path} does not exist; build it with 'nircolor build --onnx MODEL.onnx'")
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
            raise EngineFileError(f"{path} has no nircolor engine header (a bare TensorRT plan or another file); rebuild it with 'nircolor build'")
        (size,) = struct.unpack("<I", head[len(MAGIC):])
        raw = f.read(size)
    try:
        fields = json.loads(raw)
        header = EngineHeader(**fields)
    except (ValueError, TypeError) as exc:
        raise EngineFileError(f"{path} has a damaged header ({exc}); rebuild it with 'nircolor build'") from None
    if header.header_version != HEADER_VERSION:
        raise EngineFileError(f"{path} has header version {header.header_version}, this nircolor reads {HEADER_VERSION}; rebuild it")
    return header, len(MAGIC) + 4 + size


def read_engine(path: str | Path, wanted: EngineHeader | None = None) -> tuple[EngineHeader, bytes]:
    """Header and engine bytes; with `wanted`, an engine that differs in a key field is refused."""
    header, offset = read_header(path)
    if wanted is not None:
        problems = header.mismatches(wanted)
        if problems:
            raise EngineFileError(f"{path} was built for something else ({'; '.join(problems)}); rebuild it with 'nircolor build'")
    data = Path(path).read_bytes()[offset:]
    if not data:
        raise EngineFileError(f"{path} holds a header but no engine; rebuild it with 'nircolor build'")
    return header, data


def cache_path(cache_dir: str | Path, onnx_path: str | Path, wanted: EngineHeader) -> Path:
    """Where the engine for this request lives in a cache folder: one file per key."""
    return Path(cache_dir) / f"{Path(onnx_path).name.split('.')[0]}-{wanted.precision}-{wanted.cache_key()}.engine"


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

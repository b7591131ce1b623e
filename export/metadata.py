"""The metadata nircolor writes into an ONNX file's `metadata_props`, decoded. Plain Python, so
a runtime without PyTorch (or without the onnx package: ONNX Runtime's `custom_metadata_map`
gives the same pairs) reads what an export wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ONNX_FORMAT = "nircolor-onnx/1"


class OnnxModelError(ValueError):
    """An ONNX file that cannot be used; the message names the file and what to do."""


def decode_metadata(props: dict[str, str], path: str | Path) -> dict[str, Any]:
    """String pairs -> values: JSON decoded, sizes as integers, defaults for older files."""
    if props.get("nircolor.format") != ONNX_FORMAT:
        raise OnnxModelError(f"{path} has no nircolor metadata; export it with 'nircolor export' so its value ranges and padding are known")
    decoded: dict[str, Any] = dict(props)
    for key in ("options", "input_range", "output_range", "provenance"):
        decoded[key] = json.loads(props[key])
    decoded["pad_multiple"] = int(props["pad_multiple"])
    decoded["infer_size"] = int(props.get("infer_size", 0)) or None  # 0 or absent: any size as is
    decoded["graph"] = props.get("graph", "network")  # files from before the frame graph are bare networks
    for key in ("guided_upsampling", "fp32_nodes"):
        if key in props:
            decoded[key] = json.loads(props[key])
    for key in ("min_side", "max_side"):
        if key in props:
            decoded[key] = int(props[key])
    return decoded


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The nircolor metadata of an ONNX file, with JSON values decoded (needs the onnx package,
    not PyTorch)."""
    path = Path(path)
    if not path.exists():
        raise OnnxModelError(f"ONNX file {path} does not exist; create it with 'nircolor export --model NAME --out {path}'")
    try:
        import onnx
    except ImportError:
        raise ImportError("reading an ONNX file's metadata needs the 'onnx' package: pip install onnx") from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for damaged files
        raise OnnxModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}); re-export it with 'nircolor export'") from None
    return decode_metadata({p.key: p.value for p in proto.metadata_props}, path)

"""A Triton Inference Server model repository for one nircolor model.

    nircolor export --format triton --model default --out model_repository/

writes two models that serve the same checked uint8 frame graph (any frame size in, RGB of the
same size out; downscale to the working size and NIR-guided upsampling inside):

    model_repository/
      nircolor_effnet32/        ONNX Runtime; on a GPU when the server has one, else on CPU
        config.pbtxt
        1/model.onnx
      nircolor_effnet32_trt/    the same file through ONNX Runtime's TensorRT accelerator, FP16,
        config.pbtxt            engines cached under /engines (mount a volume there)
        1/model.onnx

Both take `nir` (uint8, 1 x H x W per request) and return `rgb` (uint8, H x W x 3), with
dynamic batching: requests of one frame size (the cameras of one model) are batched together.
The nircolor metadata (working size, smallest side, source checkpoint) is repeated in each
config's `parameters`. A model directory appears only when complete (written under a temporary
name, then renamed).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from nircolor.models import zoo

from .metadata import read_metadata

DEFAULT_MAX_BATCH = 8
# Metadata a Triton client may want without opening the ONNX file.
FORWARDED_METADATA = ("architecture", "infer_size", "min_side", "max_side", "source_checkpoint", "source_sha256", "nircolor.version")


class TritonExportError(ValueError):
    pass


@dataclass(frozen=True)
class TritonRepository:
    root: Path
    models: tuple[str, ...]


def model_name(model: str | Path) -> str:
    """`default` -> nircolor_effnet32; a checkpoint path -> nircolor_<file stem>."""
    key = zoo.ALIASES.get(str(model), str(model))
    stem = key if key in zoo.ZOO else Path(key).name.split(".")[0]
    return "nircolor_" + "".join(c if c.isalnum() or c == "_" else "_" for c in stem)


def _parameters(metadata: dict) -> str:
    lines = []
    for key in FORWARDED_METADATA:
        if key in metadata:
            value = str(metadata[key]).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
    return "\n".join(lines)


def config_text(name: str, metadata: dict, max_batch: int = DEFAULT_MAX_BATCH, tensorrt: bool = False,
                engine_cache: str = "/engines") -> str:
    """config.pbtxt of one variant (protobuf text format of Triton's ModelConfig)."""
    if metadata.get("graph") != "frame" or metadata.get("io") != "uint8":
        raise TritonExportError("a Triton repository serves the uint8 frame graph; export it with the defaults (--io uint8 --graph frame)")
    if max_batch < 1:
        raise TritonExportError(f"--max-batch must be at least 1, got {max_batch}")
    preferred = sorted({b for b in (2, 4, max_batch) if b <= max_batch})
    if tensorrt:
        placement = f"""instance_group [ {{ kind: KIND_GPU, count: 1 }} ]
optimization {{ execution_accelerators {{ gpu_execution_accelerator: [ {{
  name: "tensorrt"
  parameters {{ key: "precision_mode" value: "FP16" }}
  parameters {{ key: "max_workspace_size_bytes" value: "1073741824" }}
  parameters {{ key: "trt_engine_cache_enable" value: "1" }}
  parameters {{ key: "trt_engine_cache_path" value: "{engine_cache}" }}
}} ] }} }}"""
    else:
        placement = "instance_group [ { kind: KIND_AUTO, count: 1 } ]"
    return f"""# nircolor {metadata.get('architecture', '')} frame graph: uint8 NIR (1 x H x W, any H and W from min_side) ->
# uint8 RGB (H x W x 3) at the same size. Written by `nircolor export --format triton`.
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch}
input [ {{ name: "nir", data_type: TYPE_UINT8, dims: [ 1, -1, -1 ] }} ]
output [ {{ name: "rgb", data_type: TYPE_UINT8, dims: [ -1, -1, 3 ] }} ]
dynamic_batching {{ preferred_batch_size: [ {', '.join(map(str, preferred))} ], max_queue_delay_microseconds: 2000 }}
{placement}
{_parameters(metadata)}
"""


def _checked_onnx(model: str | Path, scratch: Path, check_data: str | Path | None) -> Path:
    """The shipped, already checked frame graph of a zoo model, or a fresh checked export."""
    shipped = zoo.shipped_onnx(str(model))
    if shipped is not None:
        return shipped
    from .pipeline import export_checked  # needs torch; a shipped model does not

    return export_checked(model, scratch / "model.onnx", check_data=check_data).path


def _swap_in(staged: Path, final: Path, aside: Path) -> None:
    """Put a staged folder in the place of `final`: the old one is moved aside first (a rename,
    not a delete), and put back if the new one cannot take its place, so a failure never leaves
    the repository without the model it had."""
    had_old = final.exists()
    if had_old:
        os.replace(final, aside)
    try:
        os.replace(staged, final)
    except OSError:
        if had_old:
            os.replace(aside, final)
        raise


def write_repository(model: str | Path, root: str | Path, max_batch: int = DEFAULT_MAX_BATCH, overwrite: bool = False,
                     check_data: str | Path | None = None) -> TritonRepository:
    root = Path(root)
    name = model_name(model)
    variants = {name: False, f"{name}_trt": True}
    existing = [v for v in variants if (root / v).exists()]
    if existing and not overwrite:
        raise TritonExportError(f"{root / existing[0]} exists; pass --overwrite to replace it, or choose another --out")
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / f".{name}.partial-{os.getpid()}"
    scratch.mkdir()
    try:
        onnx_path = _checked_onnx(model, scratch, check_data)
        metadata = read_metadata(onnx_path)
        for variant, tensorrt in variants.items():
            staged = scratch / variant
            (staged / "1").mkdir(parents=True)
            shutil.copyfile(onnx_path, staged / "1" / "model.onnx")
            (staged / "config.pbtxt").write_text(config_text(variant, metadata, max_batch, tensorrt))
        for variant in variants:
            _swap_in(scratch / variant, root / variant, scratch / f"{variant}.old")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TritonRepository(root, tuple(variants))

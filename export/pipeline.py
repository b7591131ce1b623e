"""Orchestration: export, then prove the artefact keeps the picture, or refuse it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import check
from .onnx import export_onnx


@dataclass
class ExportResult:
    path: Path
    parity: list[check.ParityReport] = field(default_factory=list)


def export_checked(
    model: str | Path,
    out: str | Path,
    io: str = "float32",
    fp16: bool = False,
    opset: int = 18,
    simplify: bool = True,
    check_data: str | Path | None = None,
    frames: int = 4,
) -> ExportResult:
    """Export to ONNX and compare ONNX Runtime against PyTorch on real frames. An FP16 export is
    also compared with a temporary FP32 export. Below the floor, or with any NaN/Inf, the file is
    removed and ParityError says by how much it missed."""
    path = export_onnx(model, out, io=io, fp16=fp16, opset=opset, simplify=simplify)
    reference, card = check.torch_runner(model)
    samples = check.pad_frames(check.sample_frames(check_data, frames), card.pad_multiple)
    candidate = check.onnx_runner(path)
    reports = []
    if fp16:
        fp32_path = path.with_name(path.name + ".fp32-reference.onnx")
        try:
            export_onnx(model, fp32_path, io=io, fp16=False, opset=opset, simplify=simplify)
            reports.append(check.compare(check.onnx_runner(fp32_path), candidate, samples, ("ONNX FP32", "ONNX FP16")))
        finally:
            fp32_path.unlink(missing_ok=True)
        floor = check.FP16_MIN_PSNR
    else:
        floor = check.FP32_MIN_PSNR
    reports.insert(0, check.compare(reference, candidate, samples, ("PyTorch", f"ONNX {'FP16' if fp16 else 'FP32'}")))
    failed = [r for r in reports[-1:] if not r.passed(floor)]
    if failed:
        path.unlink(missing_ok=True)
        raise check.ParityError(f"refused {path}: {failed[0]} (needs at least {floor:.0f} dB and no NaN/Inf)")
    return ExportResult(path, reports)

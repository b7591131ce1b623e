"""Orchestration: export, then prove the artefact keeps the picture, or refuse it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nircolor import files

from . import check
from .formats import default_graph


@dataclass
class ExportResult:
    path: Path
    parity: list[check.ParityReport] = field(default_factory=list)


def export_checked(
    model: str | Path,
    out: str | Path,
    io: str = "uint8",
    fp16: bool = False,
    opset: int = 18,
    simplify: bool = True,
    check_data: str | Path | None = None,
    frames: int = 4,
    graph: str | None = None,
    weights_fp16: bool = False,
) -> ExportResult:
    """Export to ONNX and compare ONNX Runtime against PyTorch on real frames. An FP16 export is
    also compared with a temporary FP32 export; an FP32 graph whose weights are stored as float16
    (`weights_fp16`) is held to the FP32 floor against PyTorch. Below the floor, or with any NaN/Inf, nothing is
    written and ParityError says by how much it missed.

    The file appears at `out` only once checked: the export goes to a temporary name beside it
    and is renamed over `out` after the check, so an interrupted or failed check leaves no
    unchecked model for a cache to trust."""
    from .onnx import export_onnx  # PyTorch: here only, so an INT8 export of a shipped ONNX file runs without it

    out = Path(out)
    graph = graph or default_graph(io)
    reference, card = check.torch_runner(model, graph=graph)
    # The check frames are read first: a wrong --check-data is reported before anything is written.
    nirs = check.sample_frames(check_data, frames)
    samples = check.frame_samples(nirs) if graph == "frame" else check.pad_frames(nirs, card.pad_multiple)
    files.remove_stale_partials(out)
    with files.atomic_path(out) as temporary:
        fp32_path = temporary.with_name(temporary.name + ".fp32-reference.onnx")
        try:
            export_onnx(model, temporary, io=io, fp16=fp16, opset=opset, simplify=simplify, graph=graph, weights_fp16=weights_fp16)
            candidate = check.onnx_runner(temporary)
            reports = []
            if fp16:
                export_onnx(model, fp32_path, io=io, fp16=False, opset=opset, simplify=simplify, graph=graph)
                reports.append(check.compare(check.onnx_runner(fp32_path), candidate, samples, ("ONNX FP32", "ONNX FP16")))
                floor = check.FP16_MIN_PSNR
            else:
                floor = check.FP32_MIN_PSNR
            reports.insert(0, check.compare(reference, candidate, samples, ("PyTorch", f"ONNX {'FP16' if fp16 else 'FP32'}")))
            failed = [r for r in reports[-1:] if not r.passed(floor)]
            if failed:
                raise check.ParityError(f"refused {out}: {failed[0]} (needs at least {floor:.0f} dB and no NaN/Inf)")
        finally:
            fp32_path.unlink(missing_ok=True)
    return ExportResult(out, reports)


def export_int8(model: str | Path, out: str | Path, target: str = "cpu", calibration: str | Path | None = None,
                calibration_frames: int = 32, io: str = "uint8", graph: str = "frame",
                float_first: int | None = None) -> check.ParityReport:
    """The model's checked FP32 graph (a shipped model's own ONNX file, or an export of the
    checkpoint), quantized to INT8 for `target` on real calibration frames and compared with it;
    `float_first`: the network's first convolutions kept float (default: int8.FLOAT_FIRST_CONVS)."""
    from .artifacts import onnx_for

    from . import int8

    frames = int8.calibration_frames(calibration, calibration_frames)  # a wrong --calibration fails before any export
    return int8.quantize(onnx_for(str(model), io=io, graph=graph), out, frames, target=target, float_first_convs=float_first)

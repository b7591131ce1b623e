"""Shipped models: names for the checkpoints under models/weights/, each with a model card
(`<file>.md`) that says what data, split, steps and time made it and how well it does."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
SAMPLES_DIR = Path(__file__).parent / "samples"
CV_FOLDS = Path(__file__).parent / "splits" / "epfl-rgbnir-cv5.json"  # scripts/make_cv_folds.py


@dataclass(frozen=True)
class ZooEntry:
    filename: str
    summary: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.filename

    @property
    def card(self) -> Path:
        return self.path.with_suffix(".md")

    @property
    def onnx(self) -> Path:
        """The checked uint8 frame graph shipped beside the checkpoint (scripts/ship_onnx.py), so
        ONNX Runtime and TensorRT deployments need no PyTorch."""
        return self.path.with_suffix(".onnx")


ZOO: dict[str, ZooEntry] = {
    "effnet32": ZooEntry("effnet32.pt", "U-Net on an ImageNet-pretrained EfficientNet-Lite0, width 32, global context squeezed to 32 numbers, trained on whole frames for the mean PSNR over crops (default)"),
    "snet16": ZooEntry("snet16.pt", "SNet ColorNet, width 16, trained with EdgeNet (the default until the CV-chosen effnet32)"),
    "estuary16": ZooEntry("estuary16.pt", "Estuary-16-ISR (Limmer & Lensch): pyramid branches, residual inception modules, "
                                          "hypercolumns; L1 + one-layer conditional adversarial"),
    "triplet16": ZooEntry("triplet16.pt", "Triplet conditional DCGAN (Suarez et al.): three stride-1 generators of width 16, "
                                          "ten layers, one per channel, NIR rejoined at red; L1 + adversarial + SSIM"),
    "twobranch16": ZooEntry("twobranch16.pt", "Two-branch structure-aware network (Park et al.): dense U-Net, width 16, grey and "
                                              "RGB decoders, gradient scale map"),
}
ALIASES = {"default": "effnet32"}


class UnknownModelError(ValueError):
    pass


def resolve(name_or_path: str | Path) -> Path:
    """A zoo name (`default`, `snet16`, ...) or a checkpoint path -> the checkpoint's path."""
    key = ALIASES.get(str(name_or_path), str(name_or_path))
    if key in ZOO:
        path = ZOO[key].path
        if not path.exists():
            raise UnknownModelError(f"shipped model {key!r} is missing its weights file {path}; reinstall nircolor")
        return path
    path = Path(name_or_path)
    if path.exists():
        return path
    names = ", ".join(sorted(ZOO) + sorted(ALIASES))
    raise UnknownModelError(f"no model {str(name_or_path)!r}: not a shipped model ({names}) and no such file")


def shipped_onnx(name: str) -> Path | None:
    """The shipped frame-graph ONNX file of a zoo name, if one ships and was exported from the
    checkpoint that ships now (its metadata names the checkpoint's sha256)."""
    from nircolor.export.metadata import OnnxModelError, read_metadata

    key = ALIASES.get(str(name), str(name))
    if key not in ZOO or not ZOO[key].onnx.exists():
        return None
    try:
        exported_from = read_metadata(ZOO[key].onnx)["source_sha256"]
    except OnnxModelError:
        return None
    return ZOO[key].onnx if exported_from == file_sha256(ZOO[key].path) else None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


FIGURES = WEIGHTS_DIR / "zoo.json"  # written by scripts/zoo_table.py


def figures() -> dict[str, dict | None]:
    """Every shipped model's measured figures (scripts/zoo_table.py), None where a model has
    not been measured yet."""
    measured = json.loads(FIGURES.read_text())["models"] if FIGURES.exists() else {}
    return {name: measured.get(name) for name in ZOO}


CV_FOLD_COUNT = len(json.loads(CV_FOLDS.read_text())["folds"])  # the scene-level folds


def _cv_cell(cv: dict | None, metric: str, digits: int) -> str:
    if not cv:
        return "not cross-validated"
    # A recipe scored on some folds only (a long run still going) says so: folds differ in difficulty.
    partial = f" ({cv['folds']} of {CV_FOLD_COUNT} folds)" if cv.get("folds", CV_FOLD_COUNT) < CV_FOLD_COUNT else ""
    return f"{cv[metric]['mean']:.{digits}f} ± {cv[metric]['std']:.{digits}f}{partial}"


def markdown_table() -> str:
    """The shipped models side by side: the README's model table (`nircolor models --format markdown`)."""
    rows = ["| model | architecture | parameters | GFLOP (640x480) | ONNX Runtime CPU ms (640x480) | CV PSNR dB | CV SSIM | CV AE deg | NIR as grey (PSNR / SSIM / AE) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, f in figures().items():
        default = " (default)" if ALIASES.get("default") == name else ""
        if f is None:
            rows.append(f"| {name}{default} | not measured: run python scripts/zoo_table.py {name} | | | | | | | |")
            continue
        cv, grey = f["cv"], (f["cv"] or {}).get("grey")
        grey_cell = f"{grey['psnr']:.2f} / {grey['ssim']:.3f} / {grey['angular_error']:.2f}" if grey else ""
        rows.append(f"| {name}{default} | `{f['architecture']}` {f['options']} | {f['parameters'] / 1e6:.2f} M | {f['gflop_640x480']:.1f} | "
                    f"{f['ort_cpu_ms_640x480']:.0f} | {_cv_cell(cv, 'psnr', 2)} | {_cv_cell(cv, 'ssim', 3)} | "
                    f"{_cv_cell(cv, 'angular_error', 2)} | {grey_cell} |")
    return "\n".join(rows) + "\n"

"""`nircolor cv`: train and score one recipe on every fold of the scene-level split.

Each fold's model is trained on the other four folds (and on the extra pairs whose scenes are
not in the fold), keeps its last weights (no checkpoint is picked on the fold it is scored on),
and is scored on its fold at full resolution. Every image of the data set is scored exactly once,
by the one model that never saw its scene. The report gives the mean and spread over folds, the
figures per category beside NIR-as-grey, the 10th-percentile PSNR, how many images fall below
NIR-as-grey and the worst images.

A recipe is the `nircolor train` options; folds run as separate processes (`--parallel`), and
a run folder that already holds a finished fold is not trained again (a killed run resumes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nircolor import files

from .data import CV_FOLDS, cv_folds
from .evaluate import evaluate, per_category, tail_figures
from .metrics import METRIC_NAMES, ORACLE_NAMES, mean_metrics

SUMMARY = ("psnr", "ssim", "angular_error")


class CVError(RuntimeError):
    """A fold that could not be trained; the message names its log."""


@dataclass(frozen=True)
class CVConfig:
    out: str
    train_args: tuple[str, ...]  # `nircolor train` options of the recipe (no --out, --val-split, --keep)
    data: str
    folds_file: str = str(CV_FOLDS)
    parallel: int = 1
    only: tuple[int, ...] = ()  # train and score only these folds (default: all)
    kept: str = ""  # a cv.json of the same recipe whose figures stand in for folds whose folders are gone
    derived: dict = field(default_factory=dict)  # {"from": RUN, "options": {...}}: another run's fold models with options set


def _fold_done(fold_dir: Path) -> bool:
    return (fold_dir / "best.pt").exists() and (fold_dir / "done").exists()


def finished_folds(run: str | Path) -> dict[int, Path]:
    """The folds of a cv run folder that finished training, by number: their folders."""
    return {int(d.name[4:]): d for d in sorted(Path(run).glob("fold[0-9]*")) if _fold_done(d)}


def train_fold(cfg: CVConfig, k: int, keys: list[str]) -> Path:
    fold_dir = Path(cfg.out) / f"fold{k}"
    if _fold_done(fold_dir):
        return fold_dir
    fold_dir.mkdir(parents=True, exist_ok=True)
    split = fold_dir / "fold_split.txt"
    files.write_text(split, f"# fold {k} of {cfg.folds_file}\n" + "".join(f"{key}\n" for key in keys))
    # The fold is the validation split (which keeps its scenes out of training) and nothing is
    # picked on it: the fold's model is its last weights, however often it was validated.
    cmd = [sys.executable, "-m", "nircolor.cli", "train", "--data", cfg.data, "--out", str(fold_dir), "--val-split", str(split),
           "--keep", "last", *cfg.train_args]
    if (fold_dir / "last.pt").exists():
        cmd.append("--resume")
    with open(fold_dir / "train.log", "a") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise CVError(f"training fold {k} failed (exit {code}); see {fold_dir / 'train.log'}")
    files.write_text(fold_dir / "done", time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return fold_dir


def derive_with_options(source: Path, out: Path, changes: dict) -> list[int]:
    """Copy each finished fold of the cv run `source` into `out` with run-time options (ones that
    add no weights, such as flip_average) set on its model; returns the folds, ready to score."""
    from . import checkpoint

    derived = []
    for k, fold_dir in finished_folds(source).items():
        target = out / fold_dir.name
        wanted = {**checkpoint.card_of(checkpoint.read(fold_dir / "best.pt")).options, **changes}
        # Done before with the same options: keep it, and its cached scores with it.
        if not (_fold_done(target) and checkpoint.card_of(checkpoint.read(target / "best.pt")).options == wanted):
            target.mkdir(parents=True, exist_ok=True)
            for name in ("fold_split.txt", "config.json"):
                files.write_text(target / name, (fold_dir / name).read_text())
            checkpoint.with_options(fold_dir / "best.pt", target / "best.pt", **changes)
            files.write_text(target / "done", f"{source}/{fold_dir.name} with {json.dumps(changes)}\n")
        derived.append(k)
    return derived


def score_fold(cfg: CVConfig, k: int) -> dict:
    fold_dir = Path(cfg.out) / f"fold{k}"
    cached = fold_dir / "eval.json"
    if cached.exists() and cached.stat().st_mtime >= (fold_dir / "best.pt").stat().st_mtime:
        return json.loads(cached.read_text())
    report = evaluate(str(fold_dir / "best.pt"), cfg.data, split=fold_dir / "fold_split.txt", json_path=cached, progress=False)
    return report.to_dict() | {"seconds_per_image": report.seconds_per_image}


def kept_reports(path: Path, recipe: str) -> dict[int, dict]:
    """Each fold's report, rebuilt from a kept cv.json (or a model card's cv-NAME.json) of the recipe."""
    # Run folders do not outlive their machine; the summary keeps every image's figures and fold,
    # so a recipe trained a fold at a time over several machines still gets one honest summary.
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CVError(f"cannot read the kept CV figures {path}: {e}") from e
    kept = kept.get("cv", kept)
    if "per_image" not in kept or "fold_means" not in kept:
        raise CVError(f"{path} is not a `nircolor cv` summary (no per_image / fold_means); give a cv.json")
    if kept["recipe"] != recipe:
        raise CVError(f"{path} holds the figures of recipe {kept['recipe']!r}, not {recipe!r}: give the same --recipe name "
                      "or train those folds again")
    reports: dict[int, dict] = {}
    for row in kept["per_image"]:
        reports.setdefault(int(row["fold"]), {"per_image": []})["per_image"].append({k: v for k, v in row.items() if k != "fold"})
    for k, report in reports.items():
        report["mean"] = kept["fold_means"][str(k)]
    return reports


def summarise(fold_reports: dict[int, dict], recipe: str) -> dict:
    """The CV figures from each fold's evaluation JSON."""
    # Each image keeps its fold: the run folder may not outlive the session, cv.json (kept in
    # benchmarks/results) must be enough to compare two recipes image by image later.
    rows = [r | {"fold": k} for k in sorted(fold_reports) for r in fold_reports[k]["per_image"]]
    fold_means = {k: fold_reports[k]["mean"] for k in sorted(fold_reports)}
    spread = {}
    for m in METRIC_NAMES:
        values = np.array([f[m] for f in fold_means.values()])
        spread[m] = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}
    return {
        "recipe": recipe,
        "folds": len(fold_reports),
        "images": len(rows),
        "fold_means": fold_means,
        "over_folds": spread,
        "all_images": mean_metrics(rows),
        "grey_all_images": mean_metrics([r["baseline"] for r in rows]),
        "per_category": per_category(rows),
        "tail": tail_figures(rows),
        **oracle_means(rows),
        "per_image": rows,
    }


def oracle_means(rows: list[dict]) -> dict:
    """The oracle decomposition over the images that have it (figures kept from before it existed do not)."""
    have = [r["oracle"] for r in rows if "oracle" in r]
    if not have:
        return {}
    return {"oracle": {"images": len(have), "model_psnr": float(np.mean([r["psnr"] for r in rows if "oracle" in r])),
                       **{name: float(np.mean([o[name] for o in have])) for name in ORACLE_NAMES}}}


def markdown(summary: dict) -> str:
    s = summary["over_folds"]
    lines = [f"# CV: {summary['recipe']}", "",
             f"{summary['folds']} folds, {summary['images']} images, each scored by the fold model that never saw its scene.", ""]
    if summary.get("derived"):
        d = summary["derived"]
        lines += [f"The fold models of {d['from']} with {json.dumps(d['options'])} set (run-time options, not retrained)"
                  + (f"; calibrated: {d['calibration']}." if d.get("calibration") else "."), ""]
    if "kept" in summary:
        lines += [f"Folds {', '.join(map(str, summary['kept']['folds']))}: figures kept in {summary['kept']['file']} "
                  "(their models did not outlive their machine).", ""]
    lines += ["| figure | mean over folds | std | worst fold | best fold | NIR as grey |", "| --- | --- | --- | --- | --- | --- |"]
    for m in SUMMARY:
        worst, best = (s[m]["min"], s[m]["max"]) if m != "angular_error" else (s[m]["max"], s[m]["min"])
        lines.append(f"| {m} | {s[m]['mean']:.3f} | {s[m]['std']:.3f} | {worst:.3f} | {best:.3f} | {summary['grey_all_images'][m]:.3f} |")
    lines += ["", "| category | images | PSNR | grey PSNR | SSIM | grey SSIM | AE deg | grey AE |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cat, c in summary["per_category"].items():
        g = c["grey"]
        lines.append(f"| {cat} | {c['images']} | {c['psnr']:.2f} | {g['psnr']:.2f} | {c['ssim']:.3f} | {g['ssim']:.3f} | "
                     f"{c['angular_error']:.2f} | {g['angular_error']:.2f} |")
    if "oracle" in summary:
        o = summary["oracle"]
        lines += ["", f"Where the error is (YCbCr, {o['images']} images; the model {o['model_psnr']:.2f} dB): its colour with the true "
                      f"luminance {o['true_luma']:.2f} dB, its luminance with the true colour {o['true_chroma']:.2f} dB, its luminance "
                      f"shifted to the true mean (a perfect exposure) {o['exposure']:.2f} dB."]
    t = summary["tail"]
    lines += ["", f"10th-percentile PSNR {t['psnr_p10']:.2f} dB; {t['below_grey']} of {summary['images']} images below NIR-as-grey.", "",
              "| worst images | PSNR | grey PSNR | SSIM | AE deg |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {w['pair']} | {w['psnr']:.2f} | {w['grey_psnr']:.2f} | {w['ssim']:.3f} | {w['angular_error']:.2f} |" for w in t["worst"]]
    return "\n".join(lines) + "\n"


def run_cv(cfg: CVConfig, recipe: str) -> dict:
    folds = cv_folds(cfg.folds_file)
    chosen = list(cfg.only or range(len(folds)))
    kept_figures = kept_reports(Path(cfg.kept), recipe) if cfg.kept else {}  # read first: a wrong file fails before training
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"recipe": recipe, "train_args": list(cfg.train_args), "data": cfg.data, "folds_file": cfg.folds_file,
              "parallel": cfg.parallel, **({"derived": cfg.derived} if cfg.derived else {})}
    files.write_json(out / "cv_config.json", {**config, "folds": chosen})
    with ThreadPoolExecutor(max_workers=max(1, cfg.parallel)) as pool:
        list(pool.map(lambda k: train_fold(cfg, k, folds[k]), chosen))
    # The summary covers every finished fold of the folder, not only the ones trained now: a long
    # recipe is trained a fold at a time (--only), and each run's cv.json must not forget the others.
    finished = [k for k in range(len(folds)) if _fold_done(out / f"fold{k}")]  # the chosen ones included: they trained or raised
    kept = {k: r for k, r in kept_figures.items() if k not in finished}
    reports = dict(sorted(({k: score_fold(cfg, k) for k in finished} | kept).items()))
    # what the summary covers, for model cards; kept folds have figures but no model in the folder
    kept_note = {"kept": {"file": cfg.kept, "folds": sorted(kept)}} if kept else {}
    files.write_json(out / "cv_config.json", {**config, "folds": list(reports), **kept_note})
    summary = summarise(reports, recipe)
    summary.update(kept_note)
    if cfg.derived:
        summary["derived"] = cfg.derived
    files.write_json(out / "cv.json", summary)
    files.write_text(out / "cv.md", markdown(summary))
    return summary

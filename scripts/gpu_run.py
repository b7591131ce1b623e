"""The one command for a lent GPU machine (run through scripts/gpu_run.sh): benchmark, check and
train, inside 9 minutes of wall time, everything written under $OUT as the repository keeps it.

    bash scripts/gpu_run.sh                                  # on the GPU machine; results in $OUT
    NIRCOLOR_GPU_DRY_RUN=1 OUT=/tmp/g bash scripts/gpu_run.sh   # rehearsal on the CPU, tiny budget
    python scripts/gpu_run.py --import RESULTS_DIR           # here: lay the returned fold models out for `nircolor cv`

Steps, each with its share of the budget:
1. benchmarks/gpu.py on the shipped default and snet16 (every variant, 320x240 to 1920x1080, FP16
   parity on real frames), cut off after BENCH_SECONDS: the cells measured by then are written.
2. The default's recipe (RECIPE) on each of the five scene-level CV folds and on every pair, six
   trainings at once on the one GPU (bf16 autocast, channels-last, data-loader workers for the
   augmentation, a checkpoint every minute), from the packed training set (.devdata, made by
   scripts/pack_training_data.py) and the packed ImageNet weights.
3. Each fold's last weights (never a checkpoint picked on the fold) and the all-pairs weights,
   stored as float16 under runs/gpu-<recipe>/, with their figures on the packed fold (long side
   384: the pack's size) in the benchmark's JSON and Markdown under "training".

At most 8 files come back: benchmarks/results/gpu-<device>.json and .md, runs/gpu-<recipe>/
fold0.pt ... fold4.pt and all.pt. Full-resolution CV figures are made here after `--import`:
`nircolor cv --out runs/cv/gpu-<recipe> -- <the recipe>` then only scores (each fold is marked
done), through the same reporting as a CPU run; `nircolor train --resume` continues any of them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DRY_RUN_ENV = "NIRCOLOR_GPU_DRY_RUN"
PACK = ROOT / ".devdata"
IMAGENET = "imagenet/efficientnet-lite0.fp16.pt"
RECIPE_NAME = "effnet32-ctx32-psnr-whole"
# The default model's recipe (models/weights/effnet32.md), at GPU batch size.
RECIPE = ("--arch", "effnet_unet", "--options", '{"width":32,"global_context":true,"context_width":32}', "--lr", "1e-3",
          "--pretrained", "--freeze-stride", "4", "--encoder-lr-scale", "0.1", "--infer-size", "384", "--crop", "256",
          "--crop-width", "384", "--ema", "0.99", "--augment", "0.5", "--objective", "psnr", "--ssim-weight", "0.2", "--angular-weight", "0.5")
BUDGET_SECONDS = 540  # the device call allows 600; the rest is start-up and the copy back
BENCH_SECONDS = 100
DRY_BUDGET_SECONDS = 200
MAX_FILES = 8
FOLDS = 5


def _log(message: str) -> None:
    print(f"[gpu_run {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _device_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "device"


def _benchmark(out: Path, dry: bool, seconds: float) -> Path:
    import torch

    name = "cpu-dry-run" if dry else _device_slug(torch.cuda.get_device_name(0))
    path = out / "benchmarks" / "results" / f"gpu-{name}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--out", str(path), "--seconds", str(int(seconds))]
    cmd += ["--device", "cpu", "--models", "triplet16", "--resolutions", "48x64", "--runs", "2"] if dry else ["--models", "default,snet16"]
    _log(f"benchmark: {' '.join(cmd[1:])}")
    proc = subprocess.run(cmd, cwd=ROOT, timeout=seconds + 120)
    if proc.returncode != 0 or not path.exists():
        _log(f"benchmark failed (exit {proc.returncode}); training goes on")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"device": name, "error": f"benchmarks/gpu.py exit {proc.returncode}"}) + "\n")
        path.with_suffix(".md").write_text(f"# GPU benchmark: {name}\n\nbenchmarks/gpu.py failed (exit {proc.returncode}).\n")
    return path


def _train_commands(work: Path, pack: Path, dry: bool, minutes: float) -> dict[str, list[str]]:
    """One `nircolor train` per fold and one on every pair, sharing the machine."""
    from nircolor.models.data import cv_folds

    folds = cv_folds(pack / "splits" / "epfl-rgbnir-cv5.json")
    base = [sys.executable, "-m", "nircolor.cli", "train", "--data", str(pack / "epfl-rgbnir"), "--extra-data", str(pack / "epfl-extra"),
            *RECIPE, "--steps", "1000000", "--steps-per-epoch", "1000000", "--minutes", f"{minutes:.2f}"]
    if importlib.util.find_spec("av") is None:
        base.append("--no-augment-h264")  # the image has no PyAV: said in the results
    if dry:
        base += ["--device", "cpu", "--threads", "1", "--batch", "2", "--crop", "64", "--crop-width", "64", "--val-limit", "2", "--steps", "2"]
    else:
        base += ["--device", "cuda", "--amp", "bf16", "--batch", "32", "--workers", "2", "--threads", "2", "--checkpoint-minutes", "1"]
    commands = {}
    for k, keys in enumerate(folds):
        split = work / f"fold{k}_split.txt"
        split.write_text("".join(f"{key}\n" for key in keys))
        commands[f"fold{k}"] = [*base, "--out", str(work / f"fold{k}"), "--val-split", str(split)]
    commands["all"] = [*base, "--out", str(work / "all"), "--val-split", "none"]
    return commands


def _train_all(commands: dict[str, list[str]], env: dict[str, str], deadline: float, work: Path) -> dict[str, int | None]:
    """Start every training at once; past the deadline, stop the ones still running (their last
    checkpoint stays). Returns each one's exit code (None: stopped at the deadline)."""
    procs = {}
    for name, cmd in commands.items():
        log = open(work / f"{name}.log", "w")
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _log(f"training {name} started")
    codes: dict[str, int | None] = {}
    while procs and time.monotonic() < deadline:
        for name, proc in list(procs.items()):
            if proc.poll() is not None:
                codes[name] = proc.returncode
                _log(f"training {name} ended (exit {proc.returncode})")
                del procs[name]
        time.sleep(1)
    for name, proc in procs.items():
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        codes[name] = None
        _log(f"training {name} stopped at the deadline; its last checkpoint is kept")
    return codes


def _collect(work: Path, out: Path, codes: dict[str, int | None]) -> dict:
    """Each run's kept weights, float16, under out/runs/gpu-<recipe>/, and their figures."""
    from nircolor.models import checkpoint

    dest = out / "runs" / f"gpu-{RECIPE_NAME}"
    dest.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name, code in codes.items():
        # Folds: the last validated weights (latest_model.pt), never a pick on the fold scored.
        source = work / name / ("best.pt" if name == "all" else "latest_model.pt")
        if not source.exists():
            runs[name] = {"exit": code, "error": f"no checkpoint (see {name}.log)",
                          "log_tail": (work / f"{name}.log").read_text(errors="replace")[-1500:] if (work / f"{name}.log").exists() else ""}
            continue
        net, card = checkpoint.load(source)
        checkpoint.save(dest / f"{name}.pt", net, card, half=True)
        runs[name] = {"exit": code, "file": f"runs/gpu-{RECIPE_NAME}/{name}.pt", "steps": card.provenance.get("steps"),
                      "train_seconds": card.provenance.get("train_seconds"), "packed_fold_metrics": card.metrics or None}
    return runs


def _report_training(bench_json: Path, runs: dict, meta: dict) -> None:
    report = json.loads(bench_json.read_text())
    report["training"] = {**meta, "runs": runs}
    bench_json.write_text(json.dumps(report, indent=2) + "\n")
    lines = ["", f"## Training: {RECIPE_NAME} on the packed set ({meta['device']})", "",
             f"`{' '.join(meta['recipe'])}`; {meta['note']}", "",
             "| run | exit | steps | seconds | PSNR on its fold (packed, 384 px) | SSIM | AE deg |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in runs.items():
        m = r.get("packed_fold_metrics") or {}
        cells = [f"{m[k]:.3f}" if k in m else "" for k in ("psnr", "ssim", "angular_error")]
        lines.append(f"| {name} | {r.get('exit')} | {r.get('steps', '')} | {r.get('train_seconds', '')} | {' | '.join(cells)} |")
    with open(bench_json.with_suffix(".md"), "a") as f:
        f.write("\n".join(lines) + "\n")


def run(out: Path, pack: Path, dry: bool) -> int:
    started = time.monotonic()
    budget = DRY_BUDGET_SECONDS if dry else BUDGET_SECONDS
    deadline = started + budget
    import torch

    from pack_training_data import verify  # scripts/ is on the path when run as a script

    if not torch.cuda.is_available() and not dry:
        print(f"gpu_run: no CUDA GPU is visible; run it on the GPU machine, or set {DRY_RUN_ENV}=1 to rehearse on the CPU", file=sys.stderr)
        return 2
    if not (pack / "MANIFEST.json").exists():
        print(f"gpu_run: no packed training set at {pack}; run python scripts/pack_training_data.py and carry .devdata", file=sys.stderr)
        return 2
    damaged = verify(pack)
    if damaged:
        print(f"gpu_run: the packed set at {pack} is damaged ({len(damaged)} files differ, e.g. {damaged[0]}); pack it again", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    bench = _benchmark(out, dry, 30 if dry else BENCH_SECONDS)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"nircolor-gpu-run-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # What is left, less a minute to collect the results and copy them back.
    minutes = max(0.2, (deadline - time.monotonic() - 75) / 60)
    env = {**os.environ, "NIRCOLOR_IMAGENET_WEIGHTS": str(pack / IMAGENET), "PYTHONUNBUFFERED": "1"}
    commands = _train_commands(work, pack, dry, minutes)
    codes = _train_all(commands, env, deadline - 45, work)
    runs = _collect(work, out, codes)
    note = "dry run on the CPU (tiny budget: plumbing only)" if dry else f"{len(commands)} trainings at once on one GPU, {minutes:.1f} minutes each"
    if "--no-augment-h264" in commands["all"]:
        note += "; no PyAV on this machine, so the H.264 degradation of the augmentation was left out"
    _report_training(bench, runs, {"device": "cpu (dry run)" if dry else torch.cuda.get_device_name(0), "recipe": list(RECIPE),
                                   "minutes_each": round(minutes, 2), "note": note, "wall_seconds": round(time.monotonic() - started, 1)})
    files = [p for p in out.rglob("*") if p.is_file()]
    _log(f"done in {time.monotonic() - started:.0f} s: {len(files)} files under {out}")
    if len(files) > MAX_FILES:
        _log(f"warning: {len(files)} files, more than the {MAX_FILES} that come back")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.get("file") for r in runs.values()) else 1


def import_results(results: Path, runs_root: Path = ROOT / "runs" / "cv", folds_file: Path | None = None) -> Path:
    """Lay the returned fold models out as `nircolor cv` keeps a run (foldK/best.pt, its fold's
    split file and the done mark), so `nircolor cv --out THAT -- <recipe>` scores them at full
    resolution without training."""
    from nircolor.models.data import cv_folds

    source = results / "runs" / f"gpu-{RECIPE_NAME}"
    if not source.is_dir():
        raise SystemExit(f"{source} does not exist; pass the folder the GPU run's files came back in")
    dest = runs_root / f"gpu-{RECIPE_NAME}"
    for k, keys in enumerate(cv_folds(folds_file) if folds_file else cv_folds()):
        fold = source / f"fold{k}.pt"
        if not fold.exists():
            continue
        fold_dir = dest / f"fold{k}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fold, fold_dir / "best.pt")
        (fold_dir / "fold_split.txt").write_text(f"# fold {k}\n" + "".join(f"{key}\n" for key in keys))
        (fold_dir / "done").write_text("trained on a GPU (scripts/gpu_run.py)\n")
    if (source / "all.pt").exists():
        (dest / "all").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / "all.pt", dest / "all" / "best.pt")
    print(f"laid out under {dest}; score with: nircolor cv --out {dest} -- {' '.join(RECIPE)}")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "gpu-results"))
    parser.add_argument("--pack", default=str(PACK))
    parser.add_argument("--import", dest="import_from", metavar="RESULTS_DIR", help="lay a returned run out for `nircolor cv` here")
    parser.add_argument("--folds", help="--import: the fold file the run trained on (default: the shipped scene-level folds)")
    args = parser.parse_args(argv)
    if args.import_from:
        import_results(Path(args.import_from), folds_file=Path(args.folds) if args.folds else None)
        return 0
    return run(Path(args.out), Path(args.pack), os.environ.get(DRY_RUN_ENV) == "1")


if __name__ == "__main__":
    sys.exit(main())

"""scripts/gpu_run.sh: refuses without a GPU, and its dry run goes through every step on the CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nircolor.cli import main as nircolor

from .conftest import ROOT, load_script

pack_module = load_script("pack_training_data")
gpu_run = load_script("gpu_run")


def _run(env: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("NIRCOLOR_GPU_DRY_RUN", "OUT")}
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu_run.sh"), *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no GPU is visible")
def test_without_a_gpu_it_refuses_in_one_line(tmp_path):
    proc = _run({"OUT": str(tmp_path / "out")})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no CUDA GPU is visible" in proc.stderr and "NIRCOLOR_GPU_DRY_RUN=1" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_without_a_pack_it_says_how_to_make_one(tmp_path):
    proc = _run({"OUT": str(tmp_path / "out"), "NIRCOLOR_GPU_DRY_RUN": "1"}, "--pack", str(tmp_path / "none"))
    assert proc.returncode == 2 and "pack_training_data.py" in proc.stderr


def test_dry_run_writes_results_that_eval_cv_and_resume_accept(tmp_path, tiny_dataset, capsys):
    main, extra, folds, keys = tiny_dataset
    pack_module.pack(tmp_path / "pack", main, extra, max_side=96, folds=folds)
    out = tmp_path / "out"
    proc = _run({"OUT": str(out), "NIRCOLOR_GPU_DRY_RUN": "1"}, "--pack", str(tmp_path / "pack"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert len(files) <= gpu_run.MAX_FILES
    name = gpu_run.RECIPE_NAME
    assert [f for f in files if f.endswith(".pt")] == [f"runs/gpu-{name}/{run}.pt" for run in ("all", "fold0", "fold1", "fold2", "fold3", "fold4")]
    report = json.loads((out / "benchmarks" / "results" / "gpu-cpu-dry-run.json").read_text())
    assert report["cells"] and set(report["training"]["runs"]) == {"fold0", "fold1", "fold2", "fold3", "fold4", "all"}
    assert report["training"]["runs"]["fold0"]["packed_fold_metrics"]["psnr"] > 5
    assert "## Training" in (out / "benchmarks" / "results" / "gpu-cpu-dry-run.md").read_text()
    # What comes back is what the CPU side uses: eval takes a fold model, ...
    fold0 = out / "runs" / f"gpu-{name}" / "fold0.pt"
    assert nircolor(["eval", "--model", str(fold0), "--data", str(main)]) == 0
    # ... --import lays the folds out for `nircolor cv` to score without training, ...
    laid = gpu_run.import_results(out, tmp_path / "cv", folds)
    assert sorted(p.name for p in laid.iterdir()) == ["all", "fold0", "fold1", "fold2", "fold3", "fold4"]
    assert (laid / "fold3" / "done").exists() and (laid / "fold3" / "fold_split.txt").read_text().splitlines()[1:] == [keys[4]]
    # ... and `nircolor train --resume` continues the all-pairs run from its weights.
    run_dir = tmp_path / "resumed"
    run_dir.mkdir()
    (run_dir / "best.pt").write_bytes((laid / "all" / "best.pt").read_bytes())
    recipe = list(gpu_run.RECIPE)
    code = nircolor(["train", "--data", str(main), "--out", str(run_dir), *recipe, "--val-split", "none", "--crop", "64", "--crop-width", "64",
                     "--batch", "2", "--steps", "3", "--steps-per-epoch", "3", "--no-augment-h264", "--resume"])
    captured = capsys.readouterr()
    assert code == 0 and "resumed from the weights" in captured.out + captured.err
    assert (run_dir / "last.pt").exists()

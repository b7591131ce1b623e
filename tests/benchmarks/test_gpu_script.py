"""benchmarks/gpu.py needs a GPU for its figures; here its plumbing runs on the CPU variants and
its refusal without a GPU is checked (the CUDA variants run where a GPU is lent)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def test_cpu_variants_write_json_and_markdown(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--models", "snet16", "--resolutions", "48x64,40x50",
                           "--runs", "2", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert [(c["variant"], c["width"], c["height"]) for c in report["cells"]] == [
        ("fp32", 64, 48), ("fp32", 50, 40), ("fp32-channels-last", 64, 48), ("fp32-channels-last", 50, 40)]
    assert all(c["p50_ms"] > 0 and c["runs"] == 2 for c in report["cells"])
    assert "| snet16 | fp32-channels-last | 64x48 |" in out.with_suffix(".md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where no GPU is visible")
def test_without_a_gpu_it_says_so():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no CUDA GPU is visible" in proc.stderr

"""A deployment carries no training stack: the runtime (transcode, bench, models, the demo, INT8
export of a shipped model) runs the shipped models' checked ONNX files and imports no PyTorch,
and what needs more names the extra that installs it."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from nircolor.models import zoo

ROOT = Path(__file__).resolve().parents[2]

# Any attempt to import torch fails, as it would where torch is not installed.
BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch' (blocked by the test)")
sys.meta_path.insert(0, NoTorch())
from nircolor.cli import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules
sys.exit(code)
"""


def test_the_shipped_onnx_files_match_their_checkpoints():
    for name in zoo.ZOO:
        assert zoo.shipped_onnx(name) == zoo.ZOO[name].onnx, f"run: python scripts/ship_onnx.py {name}"
        assert zoo.ZOO[name].onnx.stat().st_size <= 20 * 2**20
    assert zoo.ZOO["effnet32"].onnx.stat().st_size < 20 * 2**20


def test_transcode_without_torch(tmp_path):
    from .test_pipeline import make_clip

    clip = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    env = {**os.environ, "NIRCOLOR_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "transcode", str(clip), str(out), "--backend", "onnxruntime", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "read 12 frames, wrote 12" in proc.stdout
    # A checkpoint without a shipped ONNX file needs an export, and says what to install for it.
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "transcode", str(clip), str(tmp_path / "u.mp4"), "--backend", "onnxruntime",
                           "--model", str(zoo.ZOO["snet16"].path), "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "pip install 'nircolor[train]'" in proc.stderr


def test_bench_times_a_shipped_onnx_file_without_torch(tmp_path):
    """FLOPs need PyTorch and are said to be missing; the file is timed."""
    onnx = zoo.ZOO["snet16"].onnx
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "bench", "--model", str(onnx), "--precision", "fp32", "--resolutions", "160x120",
                           "--runs", "3", "--json", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NIRCOLOR_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FLOPs not counted" in proc.stdout
    saved = json.loads((tmp_path / "b.json").read_text())
    (cell,) = saved["cells"]
    assert cell["backend"] == "onnxruntime" and cell["p50_ms"] > 0 and cell["gflop"] is None
    assert saved["machine"]["torch"] is None and saved["peaks"]["cpu_fp32_gflops"] > 1
    assert saved["pipelines"] and "| - | - |" in (tmp_path / "b.md").read_text()


# The real thing: the package as a user installs it, `pip install nircolor[cpu]` (a wheel built
# from this tree, with the runtime extra alone) in a fresh venv. Only this proves that package
# data and lazy imports are right; the rest of the suite runs from the tree with everything.

@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    if os.environ.get("NIRCOLOR_SKIP_VENV") == "1":
        pytest.skip("NIRCOLOR_SKIP_VENV=1")
    env_dir = tmp_path_factory.mktemp("runtime") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{ROOT}[cpu]"], capture_output=True, text=True, timeout=900)
    if install.returncode != 0 and "Could not find a version" in install.stderr:
        pytest.skip(f"no package index reachable for the venv: {install.stderr.strip()[-200:]}")
    assert install.returncode == 0, install.stderr[-2000:]
    return env_dir


def installed(env_dir: Path, code: str, cwd: Path) -> str:
    return subprocess.run([str(env_dir / "bin" / "python"), "-c", code], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def nircolor(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """That environment's console script, run away from the source tree."""
    return subprocess.run([str(env_dir / "bin" / "nircolor"), *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NIRCOLOR_CACHE": str(cwd / "cache")})


def test_the_venv_holds_the_runtime_alone(runtime_venv, tmp_path):
    assert installed(runtime_venv, "import importlib.util as u; print(u.find_spec('torch') is None)", tmp_path) == "True"
    where = installed(runtime_venv, "import nircolor.runtime, os; print(os.path.dirname(nircolor.runtime.__file__))", tmp_path)
    assert "site-packages" in where  # the wheel's copy, not this tree


def test_transcode_in_the_runtime_venv(runtime_venv, tmp_path):
    out = tmp_path / "out.mp4"
    proc = nircolor(runtime_venv, "transcode", str(ROOT / "runtime" / "samples" / "nir-sample.mp4"), str(out), "--no-progress",
                    "--max-frames", "10", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "backend onnxruntime" in proc.stdout and "read 10 frames, wrote 10" in proc.stdout


def test_models_lists_every_shipped_model_with_its_figures(runtime_venv, tmp_path):
    proc = nircolor(runtime_venv, "models", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures and all(f is not None and f["ort_cpu_ms_640x480"] > 0 for f in figures.values())


def test_bench_and_the_demo_run_on_the_shipped_model(runtime_venv, tmp_path):
    onnx = installed(runtime_venv, "from nircolor.models import zoo; print(zoo.ZOO[zoo.ALIASES['default']].onnx)", tmp_path)
    proc = nircolor(runtime_venv, "bench", "--model", onnx, "--precision", "fp32", "--resolutions", "320x240", "--runs", "3",
                    "--json", str(tmp_path / "b.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (cell,) = json.loads((tmp_path / "b.json").read_text())["cells"]
    assert cell["backend"] == "onnxruntime" and cell["p50_ms"] > 0
    proc = nircolor(runtime_venv, "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "backend onnxruntime" in proc.stdout and (tmp_path / "nircolor-demo.mp4").stat().st_size > 10_000


def test_what_needs_more_names_it(runtime_venv, tmp_path):
    plan = tmp_path / "m.plan"
    plan.write_bytes(b"not a real plan")
    clip = installed(runtime_venv, "from nircolor.runtime.sources import SAMPLE_CLIP; print(SAMPLE_CLIP)", tmp_path)
    proc = nircolor(runtime_venv, "run", clip, "--model", str(plan), "--output", str(tmp_path / "o.mp4"), cwd=tmp_path)
    assert proc.returncode != 0 and "TensorRT" in proc.stderr and "PyTorch" not in proc.stderr
    proc = nircolor(runtime_venv, "export", "--model", "default", "--out", str(tmp_path / "x.onnx"), cwd=tmp_path)
    assert proc.returncode == 2 and "torch" in proc.stderr and "pip install 'nircolor[train]'" in proc.stderr, proc.stderr[-2000:]


def test_an_int8_export_of_the_shipped_model_needs_no_torch(runtime_venv, tmp_path):
    proc = nircolor(runtime_venv, "export", "--model", "default", "--int8", "--out", str(tmp_path / "d.int8.onnx"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "d.int8.onnx").stat().st_size > 100_000 and "parity" in proc.stdout

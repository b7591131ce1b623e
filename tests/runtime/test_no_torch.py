"""A deployment carries no training stack: `nircolor transcode` with ONNX Runtime runs the shipped
model's checked ONNX file and imports no PyTorch."""

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


@pytest.mark.skipif(os.environ.get("NIRCOLOR_SKIP_VENV") == "1", reason="NIRCOLOR_SKIP_VENV=1")
def test_transcode_in_a_virtual_environment_without_torch(tmp_path):
    """The real thing: a fresh venv with only the runtime's dependencies (`pip install .[cpu]`)."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{ROOT}[cpu]"], capture_output=True, text=True, timeout=900)
    if install.returncode != 0 and "Could not find a version" in install.stderr:
        pytest.skip(f"no package index reachable for the venv: {install.stderr.strip()[-200:]}")
    assert install.returncode == 0, install.stderr[-2000:]
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0
    out = tmp_path / "out.mp4"
    proc = subprocess.run([str(env_dir / "bin" / "nircolor"), "transcode", str(ROOT / "runtime" / "samples" / "nir-sample.mp4"),
                           str(out), "--no-progress", "--max-frames", "10"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NIRCOLOR_CACHE": str(tmp_path / "cache")}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "backend onnxruntime" in proc.stdout and "read 10 frames, wrote 10" in proc.stdout

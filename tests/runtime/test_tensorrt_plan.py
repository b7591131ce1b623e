"""A TensorRT plan runs in the runtime without PyTorch: device buffers and streams come from
cuda-python. No GPU here, so TensorRT and cuda-python are replaced by stand-ins with the same
call shapes (tests/runtime/fake_gpu); what is tested is everything nircolor does around them:
sidecar checks, profile checks, buffers, uploads and downloads, the backend, the pipeline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from nircolor.export import engine_file
from nircolor.export.engine_file import EngineHeader

from .test_no_torch import BLOCK_TORCH

FAKES = Path(__file__).parent / "fake_gpu"
MODEL = {"architecture": "snet", "pad_multiple": 16, "infer_size": 480, "graph": "frame", "io": "uint8"}


def write_plan(path: Path, plan: bytes = b"fake plan", profile=((1, 1, 17, 17), (1, 1, 480, 640), (4, 1, 2160, 3840))) -> Path:
    header = EngineHeader("ab" * 32, "10.0.0-fake", "8.7", "fp16", [list(p) for p in profile], MODEL)
    return engine_file.write(path, header, plan)


def run_with_fakes(code: str, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKES), os.environ.get("PYTHONPATH", "")]), **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


PLAN_RUNNER = """
import sys, json, numpy as np
sys.meta_path.insert(0, type("NoTorch", (), {"find_spec": lambda self, name, path=None, target=None:
    (_ for _ in ()).throw(ImportError("blocked")) if name == "torch" or name.startswith("torch.") else None})())
from nircolor.runtime.backends.tensorrt_backend import PlanRunner, compute_capability
runner = PlanRunner(sys.argv[1])
nir = np.arange(2 * 1 * 30 * 41, dtype=np.uint8).reshape(2, 1, 30, 41)
first = runner(nir)
big = runner(np.full((1, 1, 480, 640), 200, np.uint8))  # buffers grow
again = runner(nir)
try:
    runner(np.zeros((1, 1, 8, 8), np.uint8))
    refused = ""
except ValueError as exc:
    refused = str(exc)
runner.close()
print(json.dumps({"shape": first.shape, "dtype": str(first.dtype), "same": bool((first == again).all()),
                  "red_is_nir": bool((first[..., 0] == nir[:, 0]).all()), "green": int(first[0, 1, 1, 1]),
                  "big": big.shape, "refused": refused, "capability": compute_capability(), "torch": "torch" in sys.modules}))
"""


def test_plan_runner_uploads_runs_and_downloads_without_torch(tmp_path):
    plan = write_plan(tmp_path / "m.plan")
    proc = run_with_fakes(PLAN_RUNNER, str(plan))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["shape"] == [2, 30, 41, 3] and got["dtype"] == "uint8" and got["same"] and got["red_is_nir"]
    assert got["green"] == 255 - 42 and got["big"] == [1, 480, 640, 3]
    assert "outside the engine's profile" in got["refused"] and got["capability"] == "8.7" and not got["torch"]


def test_a_plan_tensorrt_cannot_load_is_a_clear_error(tmp_path):
    plan = write_plan(tmp_path / "other.plan", plan=b"a plan from another TensorRT")
    proc = run_with_fakes(PLAN_RUNNER, str(plan))
    assert proc.returncode != 0 and "could not load" in proc.stderr and "rebuild it on this machine" in proc.stderr


def test_transcode_with_a_plan_imports_no_torch(tmp_path):
    from .test_pipeline import make_clip

    clip = make_clip(tmp_path / "in.mp4", audio=False)
    plan = write_plan(tmp_path / "m.plan")
    out = tmp_path / "out.mp4"
    proc = run_with_fakes(BLOCK_TORCH, "transcode", str(clip), str(out), "--backend", "tensorrt", "--model", str(plan), "--no-progress",
                          env_extra={"NIRCOLOR_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "read 12 frames, wrote 12" in proc.stdout
    with av.open(str(out)) as f:
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(frames) == 12
    with av.open(str(clip)) as f:
        nir = next(f.decode(video=0)).to_ndarray(format="gray")
    # The stand-in engine's colours survive the pipeline and the H.264 encode: R ~ NIR, G ~ 255 - NIR.
    # Compared as 8x8 block means: H.264 keeps colour at half resolution.
    def blocks(img):
        return img.astype(float).reshape(8, 8, 12, 8).mean(axis=(1, 3))

    r, g = blocks(frames[0][..., 0]), blocks(frames[0][..., 1])
    assert np.abs(r - blocks(nir)).mean() < 6 and np.abs(g - (255 - blocks(nir))).mean() < 6


def test_a_plan_names_tensorrt_where_tensorrt_is_missing(tmp_path):
    """The file decides its runner: a plan is never handed to ONNX Runtime or PyTorch (which
    answered 'needs PyTorch' after trying to export it as a checkpoint)."""
    from nircolor.cli import main as nircolor
    from nircolor.runtime import backends
    from nircolor.runtime.backends import BackendError

    from .test_pipeline import make_clip

    plan = write_plan(tmp_path / "m.plan")
    clip = make_clip(tmp_path / "in.mp4", audio=False)
    for backend in ("auto", "onnxruntime", "torch"):
        proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "transcode", str(clip), str(tmp_path / f"{backend}.mp4"),
                               "--backend", backend, "--model", str(plan), "--no-progress"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "TensorRT" in proc.stderr and "PyTorch" not in proc.stderr, (backend, proc.stderr)
        assert not (tmp_path / f"{backend}.mp4").exists()
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    try:
        backends.create("torch", str(onnx))
        raise AssertionError("an ONNX file was handed to PyTorch")
    except BackendError as exc:
        assert "use --backend tensorrt or onnxruntime" in str(exc)
    assert nircolor(["transcode", str(clip), str(tmp_path / "t.mp4"), "--backend", "torch", "--model", str(onnx), "--no-progress"]) == 2

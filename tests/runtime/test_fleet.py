"""Fleet transcoding on Ray: where outputs go, and a local 2-CPU cluster that transcodes a folder
of short clips (one corrupt), is killed midway and, run again, finishes only what was missing."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from nircolor.runtime import fleet

HAS_RAY = importlib.util.find_spec("ray") is not None


def _clip(path: Path, frames: int, size=(96, 72), rate=10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(frames)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            grey = (rng.random((size[1], size[0])) * 60 + 3 * i).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.dstack([grey] * 3), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _ray_processes() -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "raylet" in cmd or "gcs_server" in cmd or cmd.startswith("ray::"):
            found.append(cmd)
    return found


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_outputs_keep_the_named_folders_structure(tmp_path):
    for name in ("a.mp4", "night/b.mkv", "night/.c.mp4", "night/d.partial.mp4", "notes.txt"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"x")
    (tmp_path / "single.mov").write_bytes(b"x")
    plan = fleet.plan([str(tmp_path / "in"), str(tmp_path / "single.mov")], tmp_path / "out")
    got = {r.source.relative_to(tmp_path).as_posix(): r.output.relative_to(tmp_path / "out").as_posix() for r in plan}
    assert got == {"in/a.mp4": "a.mp4", "in/night/b.mkv": "night/b.mkv", "single.mov": "single.mov"}
    assert plan[0].partial.name == "a.partial.mp4"  # beside it, same container, says what it is


def test_inputs_that_cannot_work_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(fleet.FleetError, match="not a file, a folder or a glob"):
        fleet.plan([str(tmp_path / "missing*.mp4")], tmp_path / "out")
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "a.mp4").write_bytes(b"x")
    (tmp_path / "y" / "a.mp4").write_bytes(b"x")
    with pytest.raises(fleet.FleetError, match="both be written"):
        fleet.plan([str(tmp_path / "x" / "a.mp4"), str(tmp_path / "y" / "a.mp4")], tmp_path / "out")
    with pytest.raises(fleet.FleetError, match="its own output"):
        fleet.plan([str(tmp_path / "x")], tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(fleet.FleetError, match="no recordings"):
        fleet.plan([str(tmp_path / "empty")], tmp_path / "o")


def test_without_ray_the_option_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"nircolor\[cluster\]"):
        fleet.require_ray()


def _transcode(args, **kw):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen([sys.executable, "-m", "nircolor.cli", "transcode", "--cluster", "local", "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True, **kw)


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'nircolor[cluster]')")
def test_local_cluster_transcodes_a_folder_survives_a_kill_and_finishes_only_what_was_missing(tmp_path):
    clips = {"a.mp4": 12, "b.mp4": 40, "night/c.mkv": 40, "night/d.mp4": 40}
    for name, n in clips.items():
        _clip(tmp_path / "in" / name, n)
    (tmp_path / "in" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16)
    out = tmp_path / "out"

    # First run, one worker so the recordings go one after another: killed once one is complete.
    first = _transcode(["--workers", "1", str(tmp_path / "in"), str(out)])
    deadline = time.monotonic() + 240
    while not any(p.exists() for p in (out / n for n in clips)) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    # Ray's own processes outlive the driver by a few seconds, and a worker may finish the
    # recording it has (renaming a complete output is all it does): let them go first.
    deadline = time.monotonic() + 60
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    finished_first = {n: (out / n).stat().st_mtime_ns for n in clips if (out / n).exists()}
    assert 1 <= len(finished_first) < len(clips), first.stdout.read()
    for name in finished_first:
        assert _frames(out / name) == clips[name]  # a final name means a complete output

    # Second run, two workers: only what was missing is transcoded.
    second = _transcode([str(tmp_path / "in"), str(out)])
    log = second.communicate(timeout=400)[0]
    assert second.returncode == 3, log  # one recording failed
    summary = json.loads((out / "fleet-summary.json").read_text())
    status = {Path(r["source"]).relative_to(tmp_path / "in").as_posix(): r for r in summary["recordings"]}
    assert status["broken.mp4"]["status"] == "failed" and "not a video" in status["broken.mp4"]["error"]
    for name, n in clips.items():
        assert status[name]["status"] == ("skipped" if name in finished_first else "done"), status[name]
        assert status[name]["frames"] == n and _frames(out / name) == n
    for name, mtime in finished_first.items():
        assert (out / name).stat().st_mtime_ns == mtime  # not redone, not touched
    assert summary["workers"] == 2 and summary["counts"] == {"done": len(clips) - len(finished_first), "skipped": len(finished_first), "failed": 1}
    assert not list(out.rglob("*partial*")) and not (out / "broken.mp4").exists()
    done = next(r for r in summary["recordings"] if r["status"] == "done")
    assert done["duration_s"] == pytest.approx(clips[Path(done["source"]).relative_to(tmp_path / "in").as_posix()] / 10, abs=0.15)


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'nircolor[cluster]')")
def test_sigterm_stops_the_fleet_in_order_with_143(tmp_path):
    """`docker stop` or systemd: the workers and our Ray stop, the exit status says SIGTERM, no
    stack dump, finished outputs kept and unfinished ones left as partial files."""
    for i in range(3):
        _clip(tmp_path / "in" / f"{i}.mp4", 60)
    out = tmp_path / "out"
    run = _transcode(["--workers", "1", str(tmp_path / "in"), str(out)])
    deadline = time.monotonic() + 240
    while not list(out.rglob("*partial*")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # a recording is being written
    run.send_signal(signal.SIGTERM)
    log = run.communicate(timeout=120)[0]
    assert run.returncode == 143, log
    assert "stopped by SIGTERM" in log and "Traceback" not in log and "Stack" not in log
    for done in (p for p in out.glob("*.mp4") if not p.stem.endswith(".partial")):
        assert _frames(done) == 60  # a final name is still a complete output
    deadline = time.monotonic() + 60
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_processes()

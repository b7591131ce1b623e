"""scripts/lanes.sh: every queued command runs once, in a lane, with its exit code logged."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

LANES = Path(__file__).resolve().parents[2] / "scripts" / "lanes.sh"
pytestmark = pytest.mark.skipif(shutil.which("flock") is None, reason="lanes.sh needs flock (util-linux)")


def test_each_queued_command_runs_once_and_its_exit_code_is_logged(tmp_path):
    queue = tmp_path / "queue.txt"
    queue.write_text("echo one > {d}/one\nexit 3\necho '{{\"width\": 16}}' > {d}/quoted\n".format(d=tmp_path))
    assert subprocess.run(["bash", str(LANES), str(queue), "2"], capture_output=True).returncode == 0
    done = tmp_path / "done.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not done.exists() or done.read_text().count(" rc=") < 3):
        time.sleep(0.2)
    finished = [line for line in done.read_text().splitlines() if " rc=" in line]
    assert len(finished) == 3 and queue.read_text() == ""
    assert any(" rc=3 " in line and line.endswith("exit 3") for line in finished)
    assert (tmp_path / "one").read_text() == "one\n"
    assert (tmp_path / "quoted").read_text() == '{"width": 16}\n'  # JSON options survive the queue
    assert len(list(tmp_path.glob("*-lane*.log"))) == 3


def test_a_training_line_without_threads_is_refused(tmp_path):
    queue = tmp_path / "queue.txt"
    queue.write_text("nircolor cv --out runs/cv/x -- --arch snet --steps 10\n")
    run = subprocess.run(["bash", str(LANES), str(queue), "2"], capture_output=True, text=True)
    assert run.returncode == 2 and "has no --threads" in run.stderr
    assert queue.read_text().startswith("nircolor cv")  # nothing taken from the queue


def test_a_queue_of_nircolor_lines_is_refused_when_nircolor_does_not_start(tmp_path):
    # Seen: a lost install made each line fail in a second and two lanes drained a nine-fold queue.
    queue = tmp_path / "queue.txt"
    queue.write_text("nircolor cv --out runs/cv/x -- --arch snet --threads 1\n")
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "nircolor").write_text("#!/bin/sh\necho 'ModuleNotFoundError: nircolor' >&2\nexit 1\n")
    (broken / "nircolor").chmod(0o755)
    env = {**os.environ, "PATH": f"{broken}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(LANES), str(queue), "2"], capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "install it first" in run.stderr
    assert queue.read_text().startswith("nircolor cv")
    assert not (tmp_path / "done.log").exists()

"""The working tree travels to a lent GPU machine with the packed training set, 64 MiB in all:
tracked files must leave room for it."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_TRACKED_MIB = 44


def test_tracked_files_leave_room_for_the_packed_training_set():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.decode().strip()[:200]}")
    files = [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    total = sum(f.stat().st_size for f in files if f.is_file())
    biggest = sorted(((f.stat().st_size, f.relative_to(ROOT).as_posix()) for f in files if f.is_file()), reverse=True)[:5]
    assert total <= MAX_TRACKED_MIB * 2**20, f"tracked files weigh {total / 2**20:.1f} MiB; the largest: {biggest}"

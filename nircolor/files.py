"""One way to write a file a user keeps: under a temporary name beside it, flushed, then renamed
over the final name in one step. A reader, a crash or a kill sees the old file or the new one,
never half of one; a failure removes the temporary and leaves the old file as it was."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator


def partial_path(path: str | Path) -> Path:
    """`.NAME.partial-PID.SUFFIX` beside `path`: hidden, one per process (two writers never share
    one), and with the final suffix, for writers that choose a format by it (OpenCV, ONNX, PyAV)."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yields a temporary path to write; when the block ends without an exception the file is
    flushed to disk (unless `durable` is False: frames of a sequence, where speed matters more)
    and renamed to `path`. On an exception the temporary is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"nothing was written to {temporary} for {path}")
        if durable:
            with open(temporary, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def recording_partial(path: str | Path) -> Path:
    """Where a video recording lives until it is finished: `NAME.partial.SUFFIX` beside it. A
    recording is written as it goes, and a cut one still plays, so its name is visible and says
    what it is; the container's suffix stays last (muxers and players pick the format from it)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def is_recording_partial(path: str | Path) -> bool:
    return Path(path).stem.endswith(".partial")


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_json(path: str | Path, value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=2) + "\n")


def remove_stale_partials(path: str | Path) -> list[Path]:
    """Temporaries of earlier writes to `path` whose process is gone (killed midway): nobody's,
    they would stay for good. A live process's are left alone (a write beside ours)."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}.partial-"
    for partial in path.parent.glob(f"{prefix}*"):
        pid = partial.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True

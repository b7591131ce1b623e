"""Fleet transcoding on Ray: many recordings, one task each, on actors that each keep a loaded
model; `nircolor transcode --cluster ADDRESS INPUTS... OUTPUT_DIR`.

Each recording goes through the same pipeline as a single `nircolor transcode` (every frame,
timestamps, audio). Safe to run again:
- an output is recorded as `NAME.partial.SUFFIX` beside its final name and renamed only when
  the transcode finished with every frame, so a final name always means a complete output;
- a run skips recordings whose output exists and redoes the rest (a killed run leaves only
  partial files, which the next run replaces);
- a recording that fails is reported with its reason and the others go on;
- `OUTPUT_DIR/fleet-summary.json` lists every recording: status, frames, duration, time.

Workers read and write by path: on a multi-node cluster the inputs and OUTPUT_DIR must be on
storage every node mounts at the same path (NFS, a CSI volume in KubeRay). Ray is imported only
here, and only when asked for (the `cluster` extra).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nircolor import files

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m4v")
SUMMARY_NAME = "fleet-summary.json"
PROGRESS_EVERY = 10  # frames between a worker's progress reports


class FleetStopped(Exception):
    """SIGTERM or SIGHUP stopped the fleet run: workers are stopped, finished outputs kept, the
    unfinished ones stay partial files (a re-run redoes them)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class _StopRequest:
    """A stop signal, noted by the handler and acted on by the dispatch loop between Ray calls:
    an exception raised by the handler itself can land inside Ray's own C code, which then dies
    with a SystemError and a stack dump instead of stopping in order."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum, frame) -> None:
        self.signum = self.signum or signum

    def check(self) -> None:
        if self.signum is not None:
            raise FleetStopped(self.signum)


class FleetError(ValueError):
    """Inputs or outputs a fleet run cannot use; the message says what to change."""


def require_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("--cluster runs on Ray, which is not installed: pip install 'nircolor[cluster]'") from None
    return ray


@dataclass(frozen=True)
class Recording:
    source: Path
    output: Path

    @property
    def partial(self) -> Path:
        """Where the output is recorded until it is complete (nircolor.files.recording_partial)."""
        return files.recording_partial(self.output)


@dataclass
class Outcome:
    source: str
    output: str
    status: str  # done | skipped | failed
    frames: int = 0
    duration_s: float | None = None  # of the recording, from its timestamps
    seconds: float = 0.0  # transcoding time
    worker: str | None = None
    error: str | None = None


def expand_inputs(inputs: list[str]) -> list[tuple[Path, Path]]:
    """Files, folders (their videos, recursively) and globs -> (recording, path relative to what
    was named), in a stable order, each once."""
    found: dict[Path, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".") and not files.is_recording_partial(f):
                    found.setdefault(f.resolve(), f.relative_to(path))
        elif path.is_file():
            found.setdefault(path.resolve(), Path(path.name))
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FleetError(f"{item} is not a file, a folder or a glob that matches anything; check the path")
            for m in matches:
                if Path(m).is_file():
                    found.setdefault(Path(m).resolve(), Path(Path(m).name))
    if not found:
        raise FleetError(f"no recordings ({', '.join(VIDEO_SUFFIXES)}) found in {', '.join(inputs)}")
    return list(found.items())


def plan(inputs: list[str], output_dir: str | Path) -> list[Recording]:
    """Where each recording's output goes: OUTPUT_DIR/<its path relative to the folder named>,
    same file name. Two recordings that would write one output are refused, as is an output
    folder inside which a recording lies under its own output name."""
    out = Path(output_dir).resolve()
    recordings, seen = [], {}
    for source, relative in expand_inputs(inputs):
        target = out / relative
        if target in seen:
            raise FleetError(f"{seen[target]} and {source} would both be written to {target}; name folders instead of "
                             "single files so their structure is kept, or rename one")
        if target == source:
            raise FleetError(f"{source} would be its own output; choose an OUTPUT_DIR outside the input folders")
        seen[target] = source
        recordings.append(Recording(source, target))
    return recordings


def _probe(path: Path) -> tuple[int | None, float | None]:
    """Frames and duration of a recording from its container, without decoding (None if unknown)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = stream.frames or None
            duration = float(stream.duration * stream.time_base) if stream.duration else (
                container.duration / 1e6 if container.duration else None)
            return frames, duration
    except Exception:  # a corrupt file: its transcode will say why
        return None, None


def _count_frames(path: Path) -> int:
    """Video packets in a file, read without decoding: the frame count of an output an earlier run
    finished but did not record (fragmented MP4 states no total)."""
    import av

    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except Exception:
        return 0


class FleetWorker:
    """One model, loaded once, for every recording this worker is given (a Ray actor)."""

    def __init__(self, model, pipeline, output, threads: int | None, progress=None):
        from dataclasses import replace

        self.model, self.progress = model, progress
        # Every frame, and a final name only for a complete output (the fleet's rule).
        self.pipeline = replace(pipeline, policy="offline")
        self.output = replace(output, overwrite=True, finish_only_complete=True)
        self.runner, _ = model.create_runner(threads=threads)
        self.runner.load()
        self.name = f"{os.uname().nodename}:{os.getpid()}"

    def transcode(self, recording: Recording) -> Outcome:
        from .app import run

        start = time.perf_counter()
        outcome = Outcome(str(recording.source), str(recording.output), "failed", worker=self.name)
        _, outcome.duration_s = _probe(recording.source)
        pending = [0]

        def on_frame() -> None:
            pending[0] += 1
            if self.progress is not None and pending[0] >= PROGRESS_EVERY:
                self.progress.add.remote(pending[0])
                pending[0] = 0

        try:
            recording.output.parent.mkdir(parents=True, exist_ok=True)
            result = run(str(recording.source), [str(recording.output)], self.model, self.pipeline, self.output, progress=False,
                         runner=self.runner, on_frame=on_frame)
            outcome.frames = result.frames_written
            if not result.complete:
                skipped = f"; {result.skipped_count} frames could not be used, first: {result.skipped[0][1]}" if result.skipped else ""
                raise FleetError(f"wrote {result.frames_written} of {result.frames_read} frames{skipped}")
            outcome.status = "done"
        except Exception as exc:  # one recording's failure is reported; the others go on
            outcome.error = f"{type(exc).__name__}: {exc}"
            recording.partial.unlink(missing_ok=True)
        finally:
            if self.progress is not None and pending[0]:
                self.progress.add.remote(pending[0])
        outcome.seconds = time.perf_counter() - start
        return outcome


class ProgressCounter:
    """Frames written across the cluster (a Ray actor the workers report to)."""

    def __init__(self):
        self.frames = 0

    def add(self, n: int) -> None:
        self.frames += n

    def total(self) -> int:
        return self.frames


@dataclass
class FleetSummary:
    address: str
    workers: int
    output_dir: str
    seconds: float = 0.0
    recordings: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0}
        for r in self.recordings:
            out[r.status] += 1
        return out

    def write(self, path: Path) -> None:
        data = {**{k: v for k, v in asdict(self).items() if k != "recordings"}, "counts": self.counts(),
                "frames": sum(r.frames for r in self.recordings if r.status == "done"), "recordings": [asdict(r) for r in self.recordings]}
        files.remove_stale_partials(path)  # a killed run's, cut while it rewrote the summary
        files.write_json(path, data)


def _previous_outcomes(path: Path) -> dict[str, Outcome]:
    """The finished recordings of an earlier run's summary, by output (for the counts of the ones
    skipped now); an unreadable summary is ignored: the outputs themselves say what is done."""
    try:
        data = json.loads(path.read_text())
        return {r["output"]: Outcome(**r) for r in data["recordings"] if r["status"] in ("done", "skipped")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def connect(address: str, ray):
    """`local`: start Ray on this machine; `auto` or `ray://HOST:10001` or `HOST:PORT`: join a cluster."""
    if ray.is_initialized():
        return
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address == "local":
        ray.init(address="local", **kwargs)  # a new Ray instance of our own, even where another runs
    else:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise FleetError(f"could not join the Ray cluster at {address} ({exc}); start one with 'ray start --head', "
                             "or use --cluster local") from None


def worker_resources(ray, device: str, workers: int | None, cpus_per_worker: float) -> tuple[int, dict[str, float]]:
    """How many workers the cluster holds and what each asks for: a GPU each where the cluster has
    GPUs and the device allows them, else `cpus_per_worker` CPUs each; `workers` caps it."""
    available = ray.cluster_resources()
    gpus = int(available.get("GPU", 0))
    if gpus and device in ("auto", "cuda"):
        count, resources = gpus, {"num_gpus": 1, "num_cpus": 1}
    else:
        if device == "cuda":
            raise FleetError("--device cuda asked, but the Ray cluster has no GPUs")
        count, resources = max(1, int(available.get("CPU", 1) // cpus_per_worker)), {"num_cpus": cpus_per_worker}
    return max(1, min(count, workers or count)), resources


def transcode_fleet(inputs: list[str], output_dir: str | Path, address: str = "local", workers: int | None = None,
                    cpus_per_worker: float = 1.0, progress: bool = True, model=None, pipeline=None, output=None) -> FleetSummary:
    """Transcode every recording of `inputs` into `output_dir` on a Ray cluster; see the module.
    `model`, `pipeline`, `output`: runtime.app's option objects (default: theirs)."""
    from .app import ModelOptions, OutputOptions, PipelineOptions

    model, pipeline, output = model or ModelOptions(), pipeline or PipelineOptions(), output or OutputOptions()
    recordings = plan(inputs, output_dir)
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ray = require_ray()
    connect(address, ray)
    count, resources = worker_resources(ray, model.device, workers, cpus_per_worker)
    threads = None if "num_gpus" in resources else max(1, int(cpus_per_worker))  # one worker's share of the cores
    summary = FleetSummary(address, 0, str(out))
    before = _previous_outcomes(out / SUMMARY_NAME)
    todo = []
    for rec in recordings:
        if rec.output.exists():
            earlier = before.get(str(rec.output))
            frames, duration = (earlier.frames, earlier.duration_s) if earlier else (_count_frames(rec.output), _probe(rec.source)[1])
            summary.recordings.append(Outcome(str(rec.source), str(rec.output), "skipped", frames, duration))
        else:
            todo.append(rec)
    start = time.perf_counter()
    count = min(count, len(todo)) if todo else 0
    summary.workers = count
    if todo:
        counter = ray.remote(ProgressCounter).remote()
        actor = ray.remote(max_restarts=1, **resources)(FleetWorker)
        pool = [actor.remote(model, pipeline, output, threads, counter) for _ in range(count)]
        expected = sum(_probe(r.source)[0] or 0 for r in todo)
        bars = (tqdm(total=len(todo), unit="rec", desc="recordings", disable=not progress, position=0, dynamic_ncols=True),
                tqdm(total=expected or None, unit="frame", desc="frames", disable=not progress, position=1, dynamic_ncols=True))
        def finished(outcome: Outcome) -> None:  # the summary is kept current: a killed run still leaves one
            summary.recordings.append(outcome)
            summary.seconds = time.perf_counter() - start
            summary.write(out / SUMMARY_NAME)

        # `docker stop`, systemd and a closed terminal: stop the workers and Ray in order, as
        # Ctrl-C does, instead of leaving Ray to die mid-call with a stack dump.
        handlers, stop = {}, _StopRequest()
        if threading.current_thread() is threading.main_thread():
            handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            _dispatch(ray, pool, todo, counter, bars, finished, stop)
        except (FleetStopped, KeyboardInterrupt):
            for worker in pool:
                ray.kill(worker)
            if address == "local":
                ray.shutdown()  # our own Ray: its processes go with us
            raise
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for bar in bars:
                bar.close()
    summary.seconds = time.perf_counter() - start
    summary.recordings.sort(key=lambda r: r.source)
    summary.write(out / SUMMARY_NAME)
    return summary


def _dispatch(ray, pool: list, todo: list[Recording], counter, bars, finished, stop: _StopRequest) -> None:
    """Keep every worker busy with one recording at a time until all are done; a worker that
    dies fails its recording (with the reason) and Ray restarts it for the next. A stop request
    is acted on within one wait (half a second)."""
    queue = list(todo)
    running: dict[Any, tuple[Any, Recording]] = {}
    idle = list(pool)
    reported = 0
    while queue or running:
        stop.check()
        while idle and queue:
            worker, rec = idle.pop(), queue.pop(0)
            running[worker.transcode.remote(rec)] = (worker, rec)
        done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
        for ref in done:
            worker, rec = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # the worker process died (out of memory, a crash): report, go on
                outcome = Outcome(str(rec.source), str(rec.output), "failed", error=f"worker lost: {type(exc).__name__}: {exc}")
            finished(outcome)
            idle.append(worker)
            bars[0].update(1)
            if outcome.status == "failed":
                bars[0].write(f"failed: {rec.source}: {outcome.error}")
        frames = ray.get(counter.total.remote())
        bars[1].update(frames - reported)
        reported = frames

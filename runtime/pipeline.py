"""The threaded pipeline: capture -> (preprocess, infer, postprocess) -> output, joined by
bounded queues.

Two policies (docs/design.md):
- live: newest frame wins. Each queue holds one item; a stage that falls behind finds the older
  item replaced and the replaced frame counted as a drop, so latency stays bounded.
- offline: nothing is dropped; order and timestamps are kept; full queues block the stage
  before them (back-pressure); inference may batch frames of one size.

Output runs on the calling thread (GUI toolkits want the main thread). A stage that raises stops
the others and its error is re-raised by `run`, naming the stage; Ctrl-C stops cleanly.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .backends.base import Runner
from .frames import crop_batch, pad_batch, side_by_side
from .sinks import Sink
from .sources import Read, Source, Status
from .stabilise import TemporalStabiliser
from .stats import RecentRate, Stats
from ..models.upsample import WorkingSize, frame_min_side

LAYOUTS = ("color", "side-by-side")
_END = object()


class PipelineError(RuntimeError):
    """A stage failed; `result` holds the counts up to the failure (the sinks were written up to
    there and are finalized by whoever opened them)."""

    def __init__(self, message: str, result: "PipelineResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class PipelineConfig:
    policy: str = "offline"  # or "live"
    batch: int = 1  # offline only
    queue_size: int = 8  # offline only; live queues hold one item
    layout: str = "color"
    max_frames: int | None = None
    overlay: bool = True  # fps/latency text, drawn only by sinks a person watches (a window)
    working: WorkingSize = WorkingSize()  # per frame: run the model smaller, restore guided by NIR
    stabilise: bool = False  # flow-guided temporal blending of the colour (runtime/stabilise.py)

    def __post_init__(self):
        if self.policy not in ("live", "offline"):
            raise ValueError(f"policy must be live or offline, got {self.policy!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.batch < 1 or (self.policy == "live" and self.batch != 1):
            raise ValueError("batch must be >= 1, and 1 in live mode")


@dataclass
class Item:
    index: int
    pts: float | None
    nir: np.ndarray
    captured: float  # perf_counter at capture
    rgb: np.ndarray | None = None


# Source frames that could not be used are counted all, but listed only up to here: a 10-hour
# drive from a failing camera costs what a minute does.
SKIPPED_LISTED = 100


@dataclass
class PipelineResult:
    frames_read: int = 0
    frames_written: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (source index, why): the first SKIPPED_LISTED
    skipped_count: int = 0  # all of them
    dropped: int = 0
    stopped_by: str = "end of stream"
    policy: str = "offline"
    interrupted_by: str | None = None  # the signal that stopped the run (SIGINT, SIGTERM, SIGHUP)
    stats: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every frame of the source was read and written: nothing skipped, nothing cut short."""
        return not self.skipped_count and self.interrupted_by is None and self.frames_written == self.frames_read

    def skip(self, index: int, why: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < SKIPPED_LISTED:
            self.skipped.append((index, why))


class _BlockingQueue:
    """Offline policy: a full queue makes the producer wait (back-pressure); never drops."""

    def __init__(self, size: int):
        self._q: queue.Queue = queue.Queue(maxsize=size)

    def put(self, item, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return False
            except queue.Full:
                continue
        return False

    def get(self, timeout: float):
        return self._q.get(timeout=timeout)


class _LatestQueue(_BlockingQueue):
    """Live policy: one slot; a put replaces an unread frame and returns True (a drop). The end
    marker waits its turn like an offline put, so the last frame is not lost to it."""

    def __init__(self):
        super().__init__(1)

    def put(self, item, stop: threading.Event) -> bool:
        if item is _END:
            return super().put(item, stop)
        dropped = False
        while True:
            try:
                self._q.put_nowait(item)
                return dropped
            except queue.Full:
                try:
                    old = self._q.get_nowait()
                    if old is _END:  # never drop the end marker
                        self._q.put_nowait(old)
                        return dropped
                    dropped = True
                except queue.Empty:
                    pass


class Pipeline:
    def __init__(self, source: Source, runner: Runner, sinks: Sequence[Sink], config: PipelineConfig = PipelineConfig(),
                 on_frame: Callable[[PipelineResult], None] | None = None):
        self.source, self.runner, self.sinks, self.config = source, runner, list(sinks), config
        self.on_frame = on_frame
        self.stats = Stats()
        self.result = PipelineResult(policy=config.policy)
        self._stop = threading.Event()  # stop every stage now
        self._draining = threading.Event()  # read no more; finish the frames already read
        self._errors: list[tuple[str, BaseException]] = []
        live = config.policy == "live"
        self._q_in = _LatestQueue() if live else _BlockingQueue(config.queue_size)
        self._q_out = _LatestQueue() if live else _BlockingQueue(config.queue_size)
        self._stabiliser = TemporalStabiliser() if config.stabilise else None

    def stop(self) -> None:
        self._stop.set()

    def request_stop(self, reason: str, drain: bool = True) -> None:
        """Called from a signal handler: with `drain`, capture reads no more frames and the frames
        already read are still coloured and written; without, every stage stops at once. Either
        way `run` returns normally so that the caller finalizes its outputs."""
        self.result.interrupted_by = reason
        self.result.stopped_by = f"interrupted ({reason})"
        self._draining.set()
        if not drain:
            self._stop.set()

    def _fail(self, stage: str, exc: BaseException) -> None:
        self._errors.append((stage, exc))
        self._stop.set()

    # Stage 1: capture.
    def _capture(self) -> None:
        try:
            min_side = self._min_side()  # the runner is loaded by now; once, not per frame
            while not self._stop.is_set() and not self._draining.is_set():
                if self.config.max_frames is not None and self.result.frames_read >= self.config.max_frames:
                    self.result.stopped_by = f"--max-frames {self.config.max_frames}"
                    break
                start = time.perf_counter()
                read = self.source.read()
                if read.status is Status.END:
                    if read.reason:
                        self.result.skip(read.index, read.reason)
                    elif self._cut_short(read.index):
                        self.result.skip(read.index, f"the file ends after {read.index} of the {self.source.info.frames} "
                                                     "frames its header announces: it is truncated or damaged")
                    break
                if read.status is Status.TIMEOUT:
                    continue
                if read.status is Status.OK and min(read.frame.shape[:2]) < min_side:
                    # One image too small for the model (a thumbnail in a folder) is left out like
                    # an unreadable one, not the end of the run.
                    h, w = read.frame.shape[:2]
                    read = Read(Status.SKIP, index=read.index, reason=f"a {w}x{h} frame is below the model's smallest side of {min_side} px")
                if read.status is Status.SKIP:
                    # Said in the output's terms: which output frames the missing one falls between.
                    n = self.result.frames_read
                    where = "before output frame 0" if n == 0 else f"between output frames {n - 1} and {n}"
                    self.result.skip(read.index, f"{read.reason} (missing from the output {where})")
                    continue
                self.result.frames_read += 1
                self.stats.record("capture", time.perf_counter() - start)
                if self._q_in.put(Item(read.index, read.pts, read.frame, time.perf_counter()), self._stop):
                    self.stats.drop("capture")
        except BaseException as exc:  # reported by run(), never swallowed
            self._fail("capture", exc)
        finally:
            self._q_in.put(_END, self._stop)

    def _min_side(self) -> int:
        """The smallest frame side the loaded model takes whole (1: it takes padded frames of any size)."""
        info = self.runner.info
        return frame_min_side(info.pad_multiple) if info is not None and info.whole_frames else 1

    def _cut_short(self, frames_seen: int) -> bool:
        expected = self.source.info.frames
        return bool(expected) and not self.source.info.live and frames_seen < expected

    def _next_batch(self) -> tuple[list[Item], bool]:
        """Up to `batch` items of one frame size; True when the end marker was seen."""
        items: list[Item] = []
        while not items:
            try:
                item = self._q_in.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return items, True
                continue
            if item is _END:
                return items, True
            items.append(item)
        while len(items) < self.config.batch:
            try:
                item = self._q_in.get(timeout=0.0)
            except queue.Empty:
                break
            if item is _END:
                return items, True
            if item.nir.shape != items[0].nir.shape:  # a size change starts a new batch
                self._pending = item
                break
            items.append(item)
        return items, False

    # Stage 2: preprocess, infer, postprocess.
    def _infer(self) -> None:
        self._pending = None
        try:
            ended = False
            while not ended and not self._stop.is_set():
                if self._pending is not None:
                    items, ended = [self._pending], False
                    self._pending = None
                else:
                    items, ended = self._next_batch()
                if not items:
                    continue
                t0 = time.perf_counter()
                if self.runner.info.whole_frames:  # the model pads, scales and upsamples itself
                    up, nirs = None, [i.nir for i in items]
                    batch = np.stack(nirs)[:, None]
                else:
                    up = self.config.working.upsampling(*items[0].nir.shape)  # a batch holds frames of one size
                    nirs = [up.downscale(i.nir) if up else i.nir for i in items]
                    batch, padding = pad_batch(nirs, self.runner.info.pad_multiple)
                t1 = time.perf_counter()
                rgb = self.runner.infer(batch)
                t2 = time.perf_counter()
                outputs = list(rgb) if self.runner.info.whole_frames else crop_batch(rgb, padding)
                for item, nir_small, out in zip(items, nirs, outputs):
                    if up:
                        out = up.restore(out, item.nir, nir_small)
                    if self._stabiliser is not None:
                        out = self._stabiliser(item.nir, out)
                    item.rgb = side_by_side(item.nir, out) if self.config.layout == "side-by-side" else out
                t3 = time.perf_counter()
                n = len(items)
                self.stats.record("preprocess", (t1 - t0) / n, n)
                self.stats.record("infer", (t2 - t1) / n, n)
                self.stats.record("postprocess", (t3 - t2) / n, n)
                for item in items:
                    if self._q_out.put(item, self._stop):
                        self.stats.drop("infer")
        except BaseException as exc:
            self._fail("infer", exc)
        finally:
            self._q_out.put(_END, self._stop)

    # Stage 3: output, on the calling thread.
    def _output(self) -> None:
        rate = RecentRate()
        overlay_wanted = self.config.overlay and any(sink.shows_overlay for sink in self.sinks)
        while True:
            try:
                item = self._q_out.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _END:
                return
            start = time.perf_counter()
            fps = rate.tick(start)
            overlay = f"{fps:.1f} fps  {1000 * (start - item.captured):.0f} ms" if overlay_wanted else ""
            keep_going = True
            for sink in self.sinks:
                keep_going &= sink.write(item.rgb, item.pts, overlay)
            done = time.perf_counter()
            self.stats.record("output", done - start)
            self.stats.record("end_to_end", done - item.captured)
            self.result.frames_written += 1
            if self.on_frame is not None:
                self.on_frame(self.result)
            if not keep_going:
                self.result.stopped_by = "window closed"
                self._stop.set()
                return

    def run(self) -> PipelineResult:
        threads = [threading.Thread(target=self._capture, name="capture", daemon=True),
                   threading.Thread(target=self._infer, name="infer", daemon=True)]
        for t in threads:
            t.start()
        try:
            self._output()
        except KeyboardInterrupt:  # no signal handler installed (library use): stop now, still return the counts
            self.request_stop("SIGINT", drain=False)
        except BaseException as exc:
            self._fail("output", exc)
        finally:
            for t in threads:
                t.join(timeout=10)
        self.result.dropped = sum(s.drops for s in self.stats.stages.values())
        self.result.stats = self.stats.to_dict()
        if self._errors:
            stage, exc = self._errors[0]
            self.result.stopped_by = f"error in {stage}"
            raise PipelineError(f"{stage} stage failed: {type(exc).__name__}: {exc}", self.result) from exc
        return self.result

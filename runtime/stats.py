"""Per-stage counters and latency percentiles for the pipeline, in bounded memory.

A drive of ten hours costs what a minute does: latencies go into a fixed log-spaced histogram
(percentiles to within one bin, 2 %, over the whole run) and the overlay's rate comes from a
short window of recent frames, so nothing on the hot path grows with the number of frames.
(HdrHistogram's Python package would do the histogram, but it is not on this project's index.)
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

import numpy as np

# Bin edges from 1 microsecond to 1000 s, 2 % apart: 1,046 bins, 8 KiB per stage.
_EDGES = np.exp(np.arange(np.log(1e-6), np.log(1e3), np.log(1.02)))


@dataclass
class LatencyHistogram:
    """Counts of latencies in log-spaced bins; exact count, sum and max."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(_EDGES) + 1, dtype=np.int64))
    total: int = 0
    sum: float = 0.0
    max: float = 0.0

    def add(self, seconds: float, times: int = 1) -> None:
        self.counts[int(np.searchsorted(_EDGES, seconds))] += times
        self.total += times
        self.sum += seconds * times
        self.max = max(self.max, seconds)

    def percentile(self, q: float) -> float:
        """The upper edge of the bin holding the q-th percentile, capped at the largest value seen."""
        if not self.total:
            return 0.0
        rank = int(np.ceil(q / 100 * self.total))
        b = int(np.searchsorted(np.cumsum(self.counts), max(1, rank)))
        return float(min(_EDGES[min(b, len(_EDGES) - 1)], self.max))

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0


@dataclass
class StageStats:
    name: str
    frames: int = 0
    drops: int = 0
    latencies: LatencyHistogram = field(default_factory=LatencyHistogram)
    first: float | None = None
    last: float | None = None

    def record(self, seconds: float, frames: int = 1) -> None:
        now = time.perf_counter()
        self.first = self.first if self.first is not None else now - seconds
        self.last = now
        self.frames += frames
        self.latencies.add(seconds, frames)

    def summary(self) -> dict:
        lat = self.latencies
        span = (self.last - self.first) if self.first is not None and self.last and self.last > self.first else 0.0
        return {
            "frames": self.frames,
            "drops": self.drops,
            "fps": self.frames / span if span else 0.0,
            "p50_ms": 1000 * lat.percentile(50),
            "p95_ms": 1000 * lat.percentile(95),
            "p99_ms": 1000 * lat.percentile(99),
            "max_ms": 1000 * lat.max,
            "mean_ms": 1000 * lat.mean,
        }


class RecentRate:
    """Frames per second over the last `window` frames (the overlay's figure): O(1) per frame."""

    def __init__(self, window: int = 30):
        self._times: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self, now: float) -> float:
        self._times.append(now)
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


class Stats:
    """Thread-safe collection of stage statistics; 'end_to_end' is capture to output."""

    STAGES = ("capture", "preprocess", "infer", "postprocess", "output", "end_to_end")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stages = {name: StageStats(name) for name in self.STAGES}

    def record(self, stage: str, seconds: float, frames: int = 1) -> None:
        with self._lock:
            self.stages[stage].record(seconds, frames)

    def drop(self, stage: str, count: int = 1) -> None:
        with self._lock:
            self.stages[stage].drops += count

    def to_dict(self) -> dict:
        with self._lock:
            return {name: s.summary() for name, s in self.stages.items()}


def table(rows: dict) -> str:
    """Stage summaries (Stats.to_dict()) as a fixed-width text table."""
    lines = [f"{'stage':12s}{'frames':>8s}{'drops':>7s}{'fps':>8s}{'p50 ms':>9s}{'p95 ms':>9s}{'p99 ms':>9s}{'max ms':>9s}"]
    for name, r in rows.items():
        lines.append(f"{name:12s}{r['frames']:8d}{r['drops']:7d}{r['fps']:8.1f}{r['p50_ms']:9.1f}{r['p95_ms']:9.1f}{r['p99_ms']:9.1f}{r['max_ms']:9.1f}")
    return "\n".join(lines)

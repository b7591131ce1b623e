"""Per-stage counters and latency percentiles for the pipeline."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class StageStats:
    name: str
    frames: int = 0
    drops: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per frame in this stage
    first: float | None = None
    last: float | None = None

    def record(self, seconds: float, frames: int = 1) -> None:
        now = time.perf_counter()
        self.first = self.first if self.first is not None else now - seconds
        self.last = now
        self.frames += frames
        self.latencies.extend([seconds] * frames)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies) * 1000 if self.latencies else np.zeros(1)
        span = (self.last - self.first) if self.first is not None and self.last and self.last > self.first else 0.0
        return {
            "frames": self.frames,
            "drops": self.drops,
            "fps": self.frames / span if span else 0.0,
            "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
            "mean_ms": float(lat.mean()),
        }


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

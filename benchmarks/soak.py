"""Hours of running cost what a minute does: a soak of the real threaded pipeline.

At least 108,000 frames (an hour at 30 fps) of a real NIR frame, panned so every frame differs,
go through the offline pipeline, a real backend (ONNX Runtime by default) and a real fragmented
MP4 recording, with the overlay computed as for a window. Every 10,000 frames it prints the
process's resident memory and the pipeline's overhead per frame over that window (wall time
per frame less the model's own time), so growth in either shows as a trend.

    python benchmarks/soak.py --frames 108000 --json benchmarks/results/soak.json

Writes the samples as JSON and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from nircolor.models import zoo
from nircolor.models.data import find_pairs, read_nir
from nircolor.runtime import backends
from nircolor.runtime.pipeline import Pipeline, PipelineConfig
from nircolor.runtime.sinks import VideoFileSink
from nircolor.runtime.sources import Read, Source, SourceInfo, Status

from harness import write_markdown, write_report


class PanningSource(Source):
    """`count` crops of a real NIR photograph, panning across it at `fps`, as fast as read."""

    def __init__(self, count: int, size: tuple[int, int], fps: int = 30):
        self.photo = read_nir(find_pairs(zoo.SAMPLES_DIR)[0].nir)
        h, w = size
        self.info = SourceInfo("soak://pan", live=False, width=w, height=h, fps=Fraction(fps), frames=count, time_base=Fraction(1, fps))
        self.count, self.size, self.i = count, size, 0

    def read(self) -> Read:
        if self.i >= self.count:
            return Read(Status.END, index=self.i)
        h, w = self.size
        x = self.i % (self.photo.shape[1] - w)
        frame = np.ascontiguousarray(self.photo[:h, x : x + w])
        self.i += 1
        return Read(Status.OK, frame, (self.i - 1) / float(self.info.fps), self.i - 1)


class WatchedRecording(VideoFileSink):
    shows_overlay = True  # the overlay text is computed for every frame, as for a window


def rss_mib() -> float:
    """Resident memory now (not the peak), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=108_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--size", default="64x48", help="WxH of the frames")
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="benchmarks/results/soak.json")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    runner, why = backends.create(args.backend, args.model, device="cpu", threads=args.threads)
    samples: list[dict] = []
    with runner, tempfile.TemporaryDirectory() as tmp:
        source = PanningSource(args.frames, (h, w))
        sink = WatchedRecording(str(Path(tmp) / "soak.mp4"), log=lambda text: None)
        sink.open(source.info, (w, h))
        pipeline = Pipeline(source, runner, [sink], PipelineConfig(policy="offline", batch=1))
        last = {"t": time.perf_counter(), "frames": 0, "infer_s": 0.0}

        def sample(result) -> None:
            n = result.frames_written
            if n % args.every:
                return
            now = time.perf_counter()
            infer = pipeline.stats.stages["infer"].latencies.sum
            frames = n - last["frames"]
            wall_ms = 1000 * (now - last["t"]) / frames
            model_ms = 1000 * (infer - last["infer_s"]) / frames
            row = {"frames": n, "rss_mib": round(rss_mib(), 1), "wall_ms_per_frame": round(wall_ms, 3),
                   "model_ms_per_frame": round(model_ms, 3), "overhead_ms_per_frame": round(wall_ms - model_ms, 3),
                   "output_ms_p50": round(pipeline.stats.stages["output"].summary()["p50_ms"], 3),
                   "file_mib": round(sink.path.stat().st_size / 2**20, 1)}
            samples.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            last.update(t=now, frames=n, infer_s=infer)

        pipeline.on_frame = sample
        start = time.perf_counter()
        result = pipeline.run()
        sink.close()
        seconds = time.perf_counter() - start
    first, final = samples[0], samples[-1]
    summary = {
        "frames": result.frames_written, "size": [w, h], "model": runner.info.name, "backend": f"{runner.name} ({why})",
        "seconds": round(seconds, 1), "rss_growth_mib": round(final["rss_mib"] - first["rss_mib"], 1),
        "overhead_ratio_last_to_first": round(final["overhead_ms_per_frame"] / first["overhead_ms_per_frame"], 3),
        "samples": samples,
        "command": f"python benchmarks/soak.py --frames {args.frames} --size {args.size} --model {args.model} --backend {args.backend}",
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(out, summary)
    lines = [f"# Soak: {summary['frames']} frames of {w}x{h} through the pipeline, {summary['backend']}, model {summary['model']}", "",
             f"`{summary['command']}`: {summary['seconds']} s. RSS growth from the first sample to the last: "
             f"{summary['rss_growth_mib']} MiB; overhead per frame, last window over first: {summary['overhead_ratio_last_to_first']}.", "",
             "| frames | RSS MiB | wall ms/frame | model ms/frame | overhead ms/frame | output p50 ms | recording MiB |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['frames']} | {r['rss_mib']} | {r['wall_ms_per_frame']} | {r['model_ms_per_frame']} | {r['overhead_ms_per_frame']} | "
              f"{r['output_ms_p50']} | {r['file_mib']} |" for r in samples]
    write_markdown(out.with_suffix(".md"), lines)
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

"""Offline pipeline throughput against the same backend's model-only throughput, in one run.

    python benchmarks/pipeline_throughput.py --backend onnxruntime --frames 60

Model-only: the runner's infer() on an already padded frame, back to back. Pipeline: a real
transcode of the bundled sample clip (decode, preprocess, infer, postprocess, H.264 encode) in
the threaded offline pipeline. Prints both, their ratio, and per-stage latency; writes
benchmarks/results/pipeline-throughput-<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from nircolor.runtime import backends, stats
from nircolor.runtime.frames import pad_batch
from nircolor.runtime.pipeline import Pipeline, PipelineConfig
from nircolor.runtime.sinks import open_sink
from nircolor.runtime.sources import SAMPLE_CLIP, VideoFileSource

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--model", default="default")
    ap.add_argument("--clip", default=str(SAMPLE_CLIP))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--output", default="video", choices=["video", "null"])
    args = ap.parse_args()

    runner, why = backends.create(args.backend, args.model, device="cpu")
    with runner, VideoFileSource(args.clip) as source:
        first = source.read().frame
        batch, _ = pad_batch([first], runner.info.pad_multiple)
        for _ in range(3):
            runner.infer(batch)
        times = []
        for _ in range(args.frames):
            start = time.perf_counter()
            runner.infer(batch)
            times.append(time.perf_counter() - start)
        model_fps = 1.0 / statistics.median(times)

    with runner, VideoFileSource(args.clip) as source, tempfile.TemporaryDirectory() as tmp:
        sink = open_sink(str(Path(tmp) / "out.mp4") if args.output == "video" else "null://")
        sink.open(source.info, (source.info.width, source.info.height))
        config = PipelineConfig(policy="offline", max_frames=args.frames)
        start = time.perf_counter()
        result = Pipeline(source, runner, [sink], config).run()
        elapsed = time.perf_counter() - start
        sink.close()
    pipeline_fps = result.frames_written / elapsed
    ratio = pipeline_fps / model_fps
    size = f"{first.shape[1]}x{first.shape[0]}"
    print(f"{args.backend} ({runner.info.device}), {args.model}, {size} frames, {args.frames} frames, output {args.output}")
    print(f"model only: {model_fps:.2f} fps (median {1000 * statistics.median(times):.1f} ms/frame)")
    print(f"pipeline:   {pipeline_fps:.2f} fps end to end ({result.frames_written} frames in {elapsed:.2f} s)")
    print(f"ratio pipeline / model: {ratio:.1%}\n")
    print(stats.table(result.stats))
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {"processor": platform.processor() or platform.machine(), "python": platform.python_version()}
    (RESULTS / f"pipeline-throughput-{args.backend}.json").write_text(json.dumps(
        {"machine": machine, "config": vars(args), "frame_size": size, "model_fps": model_fps, "pipeline_fps": pipeline_fps,
         "ratio": ratio, "stages": result.stats, "model_ms": [1000 * t for t in times]}, indent=2) + "\n")


if __name__ == "__main__":
    main()

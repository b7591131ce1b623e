"""Offline pipeline throughput against the same backend's model-only throughput, in one run.

    python benchmarks/pipeline_throughput.py --backend onnxruntime --output video --rounds 5

Model-only: the runner's infer() on an already padded frame, back to back. Pipeline: a real
transcode of the bundled sample clip (decode, preprocess, infer, postprocess, H.264 encode) in
the threaded offline pipeline. Prints both, their ratio, and per-stage latency; writes
benchmarks/results/pipeline-throughput-<backend>-<output>-b<batch>.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from nircolor.models.upsample import GuidedUpsampling, WorkingSize
from nircolor.runtime import backends, stats
from nircolor.runtime.bench import BenchConfig, time_runner
from nircolor.runtime.pipeline import Pipeline, PipelineConfig
from nircolor.runtime.sinks import open_sink
from nircolor.runtime.sources import SAMPLE_CLIP, VideoFileSource

from harness import RESULTS, write_report


def looped_clip(clip: str, loops: int, folder: str) -> str:
    """The clip played `loops` times in one file (packets copied, timestamps shifted), so a
    transcode's fixed start and drain cost weighs on a 20 s recording as it would on a real one,
    not on a 5 s sample."""
    import av

    out_path = str(Path(folder) / f"looped{Path(clip).suffix}")
    with av.open(out_path, "w") as out:
        stream, shift = None, 0
        for _ in range(loops):
            end = 0
            with av.open(clip) as src:
                video = src.streams.video[0]
                stream = stream or out.add_stream_from_template(video)
                for packet in src.demux(video):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = stream
                    out.mux(packet)
            shift += end
    return out_path


def pipeline(runner, clip: str, args):
    """A real offline transcode of the clip through the threaded pipeline: frames per second."""
    with VideoFileSource(clip) as source, tempfile.TemporaryDirectory() as tmp:
        sink = open_sink(str(Path(tmp) / "out.mp4") if args.output == "video" else "null://")
        sink.open(source.info, (source.info.width, source.info.height))
        start = time.perf_counter()
        config = PipelineConfig(policy="offline", max_frames=args.frames, batch=args.batch, working=WorkingSize(runner.info.infer_size))
        result = Pipeline(source, runner, [sink], config).run()
        elapsed = time.perf_counter() - start
        sink.close()
    return result.frames_written / elapsed, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--model", default="default")
    ap.add_argument("--clip", default=str(SAMPLE_CLIP))
    ap.add_argument("--frames", type=int, default=300, help="frames per round (at most the looped clip's)")
    ap.add_argument("--output", default="video", choices=["video", "null"])
    ap.add_argument("--batch", type=int, default=2, help="offline inference batch in the pipeline (transcode's default)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating model-only / pipeline rounds")
    ap.add_argument("--loops", type=int, default=4, help="play the clip this many times in one file (the sample is 5 s)")
    args = ap.parse_args()

    with VideoFileSource(args.clip) as source:
        first = source.read().frame
    timing = BenchConfig(warmup=3, min_runs=args.frames, min_seconds=0.0, max_seconds=float("inf"))
    runner, why = backends.create(args.backend, args.model, device="cpu", whole_frames=False)
    # Model-only and pipeline runs alternate, and the figure is the median of the paired ratios:
    # on a shared 2-core machine either rate alone drifts by several percent between minutes.
    rounds = []
    with tempfile.TemporaryDirectory() as tmp, runner:
        clip = looped_clip(args.clip, args.loops, tmp) if args.loops > 1 else args.clip
        # A model trained on downscaled frames sees them downscaled: that is its model-only cost,
        # and the pipeline adds the guided upsampling back to full size.
        up = GuidedUpsampling.for_frame(*first.shape, runner.info.infer_size)
        network_input = up.downscale(first) if up else first
        for _ in range(args.rounds):
            times = time_runner(runner, network_input, timing)
            model_fps = 1000 / statistics.median(times)
            pipeline_fps, result = pipeline(runner, clip, args)
            rounds.append({"model_fps": model_fps, "pipeline_fps": pipeline_fps, "ratio": pipeline_fps / model_fps})
    ratio = statistics.median(r["ratio"] for r in rounds)
    model_fps = statistics.median(r["model_fps"] for r in rounds)
    pipeline_fps = statistics.median(r["pipeline_fps"] for r in rounds)
    size = f"{first.shape[1]}x{first.shape[0]}"
    print(f"{args.backend} ({runner.info.device}), {args.model}, {size} frames, {args.frames} frames, output {args.output}, batch {args.batch}")
    print(f"model only: {model_fps:.2f} fps ({1000 / model_fps:.1f} ms/frame, network input {network_input.shape[1]}x{network_input.shape[0]})")
    print(f"pipeline:   {pipeline_fps:.2f} fps end to end ({result.frames_written} frames per round)")
    print("rounds (model fps, pipeline fps, ratio): " + "; ".join(f"{r['model_fps']:.2f}, {r['pipeline_fps']:.2f}, {r['ratio']:.1%}" for r in rounds))
    print(f"ratio pipeline / model, median of {len(rounds)} paired rounds: {ratio:.1%}\n")
    print("per-stage figures of the last round:")
    print(stats.table(result.stats))
    write_report(RESULTS / f"pipeline-throughput-{args.backend}-{args.output}-b{args.batch}.json",
                 {"config": vars(args), "frame_size": size, "model_fps": model_fps, "pipeline_fps": pipeline_fps,
                  "ratio": ratio, "rounds": rounds, "stages": result.stats, "model_ms": times})


if __name__ == "__main__":
    main()

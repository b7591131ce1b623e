"""Fleet transcoding throughput: a Ray head and a worker node started with `ray start` on loopback
(one CPU each, as two small machines would be) against a single process with the same cores,
on the same recordings (segments of the sample NIR clip).

    python benchmarks/fleet_throughput.py [--clips 6] [--frames 60]

Writes benchmarks/results/fleet-throughput.{json,md}. Both sides include what a user waits for:
the single process loads its model once; the fleet run joins the cluster, starts its actors
(each loads the model) and transcodes. The figure to read is frames per second end to end.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import av

from nircolor.runtime import backends
from nircolor.runtime.app import ModelOptions, PipelineOptions, run
from nircolor.runtime.fleet import transcode_fleet
from nircolor.runtime.sources import SAMPLE_CLIP

from harness import RESULTS, write_markdown, write_report

PORT = 6390


def make_clips(folder: Path, clips: int, frames: int) -> list[Path]:
    """Consecutive segments of the sample clip, each re-encoded as its own recording."""
    paths = []
    with av.open(str(SAMPLE_CLIP)) as source:
        decoded = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
    for c in range(clips):
        path = folder / f"drive{c:02d}.mp4"
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.height, stream.width = decoded[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(decoded[(c * frames + i) % len(decoded)], format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        paths.append(path)
    return paths


def single_process(clips: list[Path], out: Path, threads: int) -> dict:
    start = time.perf_counter()
    runner, _ = backends.create("onnxruntime", "default", device="cpu", threads=threads)
    frames = 0
    with runner:
        for clip in clips:
            frames += run(str(clip), [str(out / clip.name)], pipeline=PipelineOptions("offline"), progress=False, runner=runner).frames_written
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds, "threads": threads}


def ray_cluster(clips: list[Path], out: Path) -> dict:
    # Ray 2.5x+ starts a head with token authentication (~/.ray/auth_token): the worker node and
    # this driver present that token.
    os.environ["RAY_AUTH_MODE"] = "token"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = ["ray", "start", "--head", f"--port={PORT}", "--num-cpus=1", "--include-dashboard=false", "--disable-usage-stats"]
    worker = ["ray", "start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1"]
    subprocess.run(head, check=True, env=env, capture_output=True)
    try:
        subprocess.run(worker, check=True, env=env, capture_output=True)
        start = time.perf_counter()
        summary = transcode_fleet([str(c) for c in clips], out, address=f"127.0.0.1:{PORT}", progress=False,
                                  model=ModelOptions("default", "onnxruntime", "cpu"))
        seconds = time.perf_counter() - start
    finally:
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True)
    frames = sum(r.frames for r in summary.recordings if r.status == "done")
    busy = sum(r.seconds for r in summary.recordings)
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds, "workers": summary.workers, "nodes": 2,
            "transcode_seconds_summed": busy, "failed": summary.counts()["failed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "in").mkdir()
        clips = make_clips(scratch / "in", args.clips, args.frames)
        (scratch / "single").mkdir()
        single = single_process(clips, scratch / "single", threads=os.cpu_count() or 1)
        fleet = ray_cluster(clips, scratch / "fleet")
    with av.open(str(SAMPLE_CLIP)) as c:
        size = f"{c.streams.video[0].width}x{c.streams.video[0].height}"
    result = {"command": f"python benchmarks/fleet_throughput.py --clips {args.clips} --frames {args.frames}",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "clips": args.clips,
              "frames_per_clip": args.frames, "size": size, "single_process": single, "ray": fleet,
              "ratio": fleet["fps"] / single["fps"]}
    out = RESULTS / "fleet-throughput"
    write_report(out.with_suffix(".json"), result)
    md = ["# Fleet transcoding throughput", "", f"`{result['command']}` on {os.cpu_count()} CPUs: {args.clips} recordings of "
          f"{args.frames} frames ({size}, segments of the sample NIR clip), default model, ONNX Runtime CPU.", "",
          "| run | workers | frames | wall s | frames/s |", "| --- | --- | --- | --- | --- |",
          f"| one process ({single['threads']} threads, model loaded once) | 1 | {single['frames']} | {single['seconds']:.1f} | {single['fps']:.1f} |",
          f"| Ray: head + worker node (`ray start`, 1 CPU each) on loopback | {fleet['workers']} | {fleet['frames']} | "
          f"{fleet['seconds']:.1f} | {fleet['fps']:.1f} |", "",
          f"Ray / one process: **{result['ratio']:.2f}x**."]
    write_markdown(out.with_suffix(".md"), md)
    print("\n".join(md))


if __name__ == "__main__":
    main()

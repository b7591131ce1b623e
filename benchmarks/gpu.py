"""Every measurement only a GPU can make, in one run.

    python benchmarks/gpu.py                       # all shipped models, 320x240 to 1920x1080
    python benchmarks/gpu.py --models default,snet16 --resolutions 480x640

For each shipped model, the frame graph that `nircolor run` shows (uint8 frame in, uint8 RGB
out, working-size downscale and guided upsampling inside), timed from a host frame to a host
result, per variant:

- fp32, fp16: PyTorch CUDA, eager;
- fp16-channels-last: the network's weights and activations in NHWC (tensor-core friendly);
- fp16-cuda-graph: the whole frame graph captured once per frame size and replayed;
- fp16-compile: torch.compile (mode reduce-overhead, static shapes);

then FP16 parity against FP32 on real frames (PSNR, NaN/Inf, as `nircolor export` checks it), and
the threaded pipeline with the PyTorch CUDA backend (live and offline, the sample clip to
null://). Writes benchmarks/results/gpu-<GPU name>.json and .md. `--device cpu` runs the same
code on the CPU variants only (fp32, channels-last), which is how the tests check this script.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nircolor.export import check
from nircolor.models import checkpoint, zoo
from nircolor.models.frame_graph import FrameGraph
from nircolor.runtime import backends
from nircolor.runtime.bench import pipeline_latency

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("fp32", "fp16", "fp16-channels-last", "fp16-cuda-graph", "fp16-compile")
CPU_VARIANTS = ("fp32", "fp32-channels-last")
RESOLUTIONS = ((240, 320), (480, 640), (720, 1280), (1080, 1920))


def frame_graph(name: str, variant: str, device: torch.device) -> torch.nn.Module:
    net, card = checkpoint.load(zoo.resolve(name))
    net = copy.deepcopy(net).to(device).eval()
    if "channels-last" in variant:
        net = net.to(memory_format=torch.channels_last)
    compute = torch.float16 if variant.startswith("fp16") else torch.float32
    return FrameGraph.for_card(net, card, compute).to(device).eval()


def runner_for(name: str, variant: str, device: torch.device, shape: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """Host uint8 frame (1 x 1 x H x W) -> host uint8 RGB, the variant's way."""
    graph = frame_graph(name, variant, device)
    if variant.endswith("compile"):
        graph = torch.compile(graph, mode="reduce-overhead", dynamic=False)
    if not variant.endswith("cuda-graph"):
        @torch.inference_mode()
        def run(nir: np.ndarray) -> np.ndarray:
            return graph(torch.from_numpy(nir).to(device)).cpu().numpy()

        return run
    static_in = torch.zeros((1, 1, *shape), dtype=torch.uint8, device=device)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(side):
        for _ in range(3):  # warm-up outside the capture, as CUDA graphs require
            graph(static_in)
    torch.cuda.current_stream().wait_stream(side)
    captured = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(captured):
        static_out = graph(static_in)

    def replay(nir: np.ndarray) -> np.ndarray:
        static_in.copy_(torch.from_numpy(nir), non_blocking=False)
        captured.replay()
        return static_out.cpu().numpy()

    return replay


def time_ms(run: Callable[[np.ndarray], np.ndarray], frame: np.ndarray, runs: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        run(frame)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run(frame)  # returns host memory: the device has finished
        times.append(1000 * (time.perf_counter() - t))
    return times


def fp16_parity(name: str, device: torch.device) -> dict:
    frames = check.frame_samples(check.sample_frames())
    fp32, fp16 = frame_graph(name, "fp32", device), frame_graph(name, "fp16", device)

    def as_runner(graph):
        @torch.inference_mode()
        def run(nir):
            return graph(torch.from_numpy(nir).to(device)).cpu().numpy().astype(np.float32)

        return run

    report = check.compare(as_runner(fp32), as_runner(fp16), frames, ("PyTorch CUDA FP32", "PyTorch CUDA FP16"))
    return {"frames": report.frames, "psnr_min": report.psnr_min, "psnr_mean": report.psnr_mean, "max_abs": report.max_abs,
            "non_finite": report.non_finite, "passed": report.passed(check.FP16_MIN_PSNR)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(zoo.ZOO))
    ap.add_argument("--resolutions", default=",".join(f"{h}x{w}" for h, w in RESOLUTIONS), help="HxW,HxW,...")
    ap.add_argument("--variants", help=f"comma-separated (default: {', '.join(VARIANTS)}; on --device cpu: {', '.join(CPU_VARIANTS)})")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--pipeline-frames", type=int, default=60)
    ap.add_argument("--seconds", type=float, help="stop starting new measurements after this many seconds; what was measured is written")
    ap.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/gpu-<device name>.json; Markdown beside it)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py measures what only a GPU can show and no CUDA GPU is visible here; "
                         "run it on an NVIDIA GPU (or --device cpu to check the script)")
    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or platform.machine()
    variants = tuple(args.variants.split(",")) if args.variants else (VARIANTS if args.device == "cuda" else CPU_VARIANTS)
    resolutions = [tuple(int(v) for v in r.split("x")) for r in args.resolutions.split(",")]
    models = [zoo.ALIASES.get(m, m) for m in args.models.split(",")]
    rng = np.random.default_rng(0)
    cells, skipped, parity, pipelines = [], [], {}, {}
    started = time.perf_counter()

    def out_of_time() -> bool:
        return args.seconds is not None and time.perf_counter() - started > args.seconds

    for name in models:
        for variant in variants:
            for h, w in resolutions:
                frame = (rng.random((1, 1, h, w)) * 255).astype(np.uint8)
                if out_of_time():
                    skipped.append(f"{name} {variant} {w}x{h}: past the --seconds budget")
                    continue
                try:
                    times = time_ms(runner_for(name, variant, device, (h, w)), frame, args.runs)
                except Exception as exc:  # a variant this machine or model cannot run: say so, go on
                    skipped.append(f"{name} {variant} {w}x{h}: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                cells.append({"model": name, "variant": variant, "height": h, "width": w, "runs": len(times),
                              "p50_ms": statistics.median(times), "p95_ms": float(np.percentile(times, 95)),
                              "fps": 1000 / statistics.median(times)})
                print(f"{name} {variant} {w}x{h}: p50 {cells[-1]['p50_ms']:.2f} ms")
        if args.device == "cuda" and not out_of_time():
            parity[name] = fp16_parity(name, device)
            for policy in ("live", "offline"):
                if out_of_time():
                    skipped.append(f"{name} pipeline {policy}: past the --seconds budget")
                    continue
                try:
                    runner, _ = backends.create("torch", name, fp16=True, device="cuda")
                    with runner:
                        pipelines[f"{name} {policy}"] = pipeline_latency(runner, policy, args.pipeline_frames)
                except Exception as exc:  # e.g. no PyAV to read the sample clip: said, the rest kept
                    skipped.append(f"{name} pipeline {policy}: {type(exc).__name__}: {str(exc)[:200]}")
    report = {"device": gpu, "torch": torch.__version__, "cuda": torch.version.cuda, "variants": variants, "cells": cells,
              "skipped": skipped, "fp16_parity": parity, "pipelines": pipelines}
    out = args.out or ROOT / "benchmarks" / "results" / f"gpu-{gpu.replace(' ', '-')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    md = [f"# GPU benchmark: {gpu}", "", f"`python benchmarks/gpu.py`, torch {torch.__version__}, CUDA {torch.version.cuda}; "
          "host uint8 frame to host uint8 RGB through the frame graph, median of the runs.", "",
          "| model | variant | frame | p50 ms | p95 ms | fps |", "| --- | --- | --- | --- | --- | --- |"]
    md += [f"| {c['model']} | {c['variant']} | {c['width']}x{c['height']} | {c['p50_ms']:.2f} | {c['p95_ms']:.2f} | {c['fps']:.0f} |" for c in cells]
    if parity:
        md += ["", "| model | FP16 vs FP32 on real frames: PSNR min / mean dB | NaN/Inf | passes 40 dB |", "| --- | --- | --- | --- |"]
        md += [f"| {m} | {p['psnr_min']:.1f} / {p['psnr_mean']:.1f} | {p['non_finite']} | {p['passed']} |" for m, p in parity.items()]
    if pipelines:
        md += ["", "| pipeline (torch CUDA FP16, sample clip to null://) | frames | dropped |", "| --- | --- | --- |"]
        md += [f"| {k} | {p['frames_written']} | {p['dropped']} |" for k, p in pipelines.items()]
    if skipped:
        md += ["", "Not measured: " + "; ".join(skipped)]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()

"""`nircolor bench`: model-only latency per backend x precision x resolution, the threaded
pipeline's capture-to-output latency, the model's cost in FLOPs and the fraction of the
machine's measured peak, with the machine and configuration beside every figure.

Writes PREFIX.json, PREFIX.md and PREFIX-latency.png / PREFIX-throughput.png (matplotlib).
"""

from __future__ import annotations

import itertools
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nircolor import __version__, files
from nircolor.export.formats import kind_of
from nircolor.export.metadata import read_metadata
from nircolor.models import zoo
from nircolor.models.upsample import GuidedUpsampling, WorkingSize

from . import backends
from .frames import pad_batch
from .pipeline import Pipeline, PipelineConfig
from .sinks import NullSink
from .sources import SAMPLE_CLIP, VideoFileSource

RESOLUTIONS = ((240, 320), (480, 640), (720, 1280), (1080, 1920))


@dataclass(frozen=True)
class BenchConfig:
    models: tuple[str, ...] = ("default",)
    backends: tuple[str, ...] = ("onnxruntime",)
    precisions: tuple[str, ...] = ("fp32", "fp16")
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS
    device: str = "auto"
    warmup: int = 3
    min_runs: int = 10
    min_seconds: float = 2.0  # per cell: keep timing until both minimums are met
    max_seconds: float = 20.0
    pipeline_frames: int = 40
    threads: int | None = None


@dataclass
class Cell:
    model: str
    backend: str
    precision: str
    device: str
    height: int
    width: int
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    fps: float
    gflop: float | None  # None where FLOPs could not be counted (no PyTorch, or not a checkpoint)
    fraction_of_peak: float | None
    samples_ms: list[float] = field(repr=False, default_factory=list)
    # A model with a working size sees a larger frame downscaled: the network's input, and the
    # NIR-guided upsampling back to the frame's size (p50; 0 when the frame is seen as it is).
    network_height: int = 0
    network_width: int = 0
    upsample_ms: float = 0.0

    @property
    def frame_ms(self) -> float:
        return self.p50_ms + self.upsample_ms


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch = _torch()
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "nircolor": __version__,
            "gpu": torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else None}
    for mod in ("torch", "onnxruntime", "tensorrt", "cv2", "av"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def _torch():
    """PyTorch if installed: the bench runs without it (an ONNX file on ONNX Runtime), and then
    counts no FLOPs and measures the CPU's peak with NumPy."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def model_infer_size(model: str) -> int | None:
    """The model's working size, from an ONNX file's metadata where there is one (no PyTorch
    needed), else from its checkpoint."""
    if kind_of(str(model)) == "onnx":
        return read_metadata(model)["infer_size"]
    shipped = zoo.shipped_onnx(model)
    if shipped is not None:
        return read_metadata(shipped)["infer_size"]
    from nircolor.models import checkpoint

    return checkpoint.load(zoo.resolve(model))[1].infer_size


def model_gflop(model: str, height: int, width: int) -> float | None:
    """FLOPs (2 per multiply-add) of one padded frame, counted by torch's FlopCounterMode on the
    model's checkpoint; None without PyTorch, or for an ONNX file or a plan given by its path."""
    torch = _torch()
    if torch is None or kind_of(str(model)) != "checkpoint":
        return None
    from torch.utils.flop_counter import FlopCounterMode

    from nircolor.models import checkpoint

    net, card = checkpoint.load(zoo.resolve(model))
    m = card.pad_multiple
    x = torch.zeros(1, 1, -(-height // m) * m, -(-width // m) * m)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return counter.get_total_flops() / 1e9


def peak_gflops(device: str = "cpu", dtype: str = "float32", n: int = 2048, seconds: float = 2.0) -> float:
    """The machine's attainable matrix-multiply rate: the best single product over `seconds`.

    On the CPU every core the process may use takes part (torch may default to fewer, e.g. under a
    cgroup quota, while ONNX Runtime uses them all), and the best product rather than the mean is
    kept so a noisy neighbour does not lower the peak and push a model's fraction above one.
    Without PyTorch, NumPy's BLAS multiplies (on the CPU).
    """
    torch = _torch()
    if torch is None:
        a, b = (np.random.default_rng(i).standard_normal((n, n), dtype=np.float32) for i in (0, 1))
        return _best_product_gflops(lambda: a @ b, n, seconds)
    a = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        return _best_product_gflops(lambda: (a @ b, sync()), n, seconds)
    finally:
        torch.set_num_threads(threads)


def _best_product_gflops(product, n: int, seconds: float) -> float:
    product()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def time_upsampling(height: int, width: int, up: GuidedUpsampling | None, runs: int = 10) -> float:
    """Median ms of downscaling an HxW frame for the network and restoring it from the network's
    output, as the pipeline does (0 when the frame is seen as it is)."""
    if up is None:
        return 0.0
    rng = np.random.default_rng(1)
    nir = (rng.random((height, width)) * 255).astype(np.uint8)
    rgb = (rng.random((*up.small_shape(height, width), 3)) * 255).astype(np.uint8)
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        up.restore(rgb, nir, up.downscale(nir))
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times[1:])


def time_calls(fn, runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds of each of `runs` calls of `fn`, after `warmup` untimed ones: the timing loop
    of the benchmarks and release scripts (`time_runner` below adds a time budget)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return times


def latency(times_ms: list[float]) -> dict[str, float]:
    """Median (what we quote), 95th percentile and minimum of timings in ms."""
    return {"median_ms": statistics.median(times_ms), "p95_ms": float(np.percentile(times_ms, 95)), "min_ms": min(times_ms)}


def time_runner(runner, frame: np.ndarray, cfg: BenchConfig) -> list[float]:
    batch, _ = pad_batch([frame], runner.info.pad_multiple)
    for _ in range(cfg.warmup):
        runner.infer(batch)  # returns host uint8: the device has finished
    times, start = [], time.perf_counter()
    while (len(times) < cfg.min_runs or time.perf_counter() - start < cfg.min_seconds) and time.perf_counter() - start < cfg.max_seconds:
        t = time.perf_counter()
        runner.infer(batch)
        times.append(1000 * (time.perf_counter() - t))
    return times


def pipeline_latency(runner, policy: str, frames: int) -> dict:
    # Live reads are paced to the clip's frame rate, as a camera delivers frames.
    with VideoFileSource(str(SAMPLE_CLIP), realtime=policy == "live") as source:
        config = PipelineConfig(policy=policy, max_frames=frames, overlay=False, working=WorkingSize(runner.info.infer_size))
        result = Pipeline(source, runner, [NullSink()], config).run()
    stages = result.stats
    busy = sum(stages[s]["mean_ms"] for s in ("capture", "preprocess", "infer", "postprocess", "output"))
    share = {s: stages[s]["mean_ms"] / busy for s in ("capture", "preprocess", "infer", "postprocess", "output")}
    return {"policy": policy, "frames_written": result.frames_written, "dropped": result.dropped, "stages": stages, "share_of_busy_time": share}


def run_bench(cfg: BenchConfig, out_prefix: str | Path) -> dict:
    rng = np.random.default_rng(0)
    torch = _torch()
    on_gpu = torch is not None and torch.cuda.is_available() and cfg.device != "cpu"
    peaks = {"cpu_fp32_gflops": peak_gflops("cpu")}
    if on_gpu:
        peaks["gpu_fp32_gflops"] = peak_gflops("cuda")
        peaks["gpu_fp16_gflops"] = peak_gflops("cuda", "float16", n=8192)
    cells: list[Cell] = []
    pipelines = []
    skipped = []
    sizes = {model: model_infer_size(model) for model in cfg.models}
    # What each frame size costs each model: the network's input (its working size) and the
    # upsampling back; FLOPs depend on the model and that input only, so count them once.
    ups = {(model, h, w): GuidedUpsampling.for_frame(h, w, sizes[model]) for model, (h, w) in itertools.product(cfg.models, cfg.resolutions)}
    inputs = {(model, h, w): up.small_shape(h, w) if up else (h, w) for (model, h, w), up in ups.items()}
    gflops = {key: model_gflop(key[0], *inputs[key]) for key in inputs}
    upsample_ms = {key: time_upsampling(key[1], key[2], up) for key, up in ups.items()}
    for model, name, precision in itertools.product(cfg.models, cfg.backends, cfg.precisions):
        try:
            runner, _ = backends.create(name, model, fp16=precision == "fp16", device=cfg.device, threads=cfg.threads,
                                         whole_frames=False,  # the network at its working size; the upsampling is timed apart
                                         int8=precision == "int8")
            runner.load()
        except Exception as exc:  # a precision this backend/device lacks: say so, go on
            skipped.append(f"{model} {name} {precision}: {exc}")
            continue
        with runner:
            gpu_run = "cuda" in runner.info.device.lower() or "tensorrt" in runner.info.device.lower()
            peak = peaks.get(f"gpu_{precision}_gflops" if gpu_run else "cpu_fp32_gflops", peaks["cpu_fp32_gflops"])
            for h, w in cfg.resolutions:
                nh, nw = inputs[model, h, w]
                frame = (rng.random((nh, nw)) * 255).astype(np.uint8)
                times = time_runner(runner, frame, cfg)
                p50 = statistics.median(times)
                gflop = gflops[model, h, w]
                cell = Cell(model, name, precision, runner.info.device, h, w, len(times), p50, float(np.percentile(times, 95)),
                            float(np.percentile(times, 99)), max(times), 1000 / p50, gflop,
                            None if gflop is None else gflop / (p50 / 1000) / peak, times, nh, nw, upsample_ms[model, h, w])
                cells.append(cell)
                seen = f" (network at {nw}x{nh}, + {cell.upsample_ms:.1f} ms upsampling)" if ups[model, h, w] else ""
                work = "FLOPs not counted (needs PyTorch and a checkpoint)" if gflop is None else \
                    f"{gflop:.1f} GFLOP, {cell.fraction_of_peak:.1%} of peak"
                print(f"{model} {name:12s} {precision} {w}x{h}{seen}: p50 {p50:.1f} ms, {1000 / p50:.1f} fps, {work}")
            if precision == cfg.precisions[0]:
                for policy in ("offline", "live"):
                    pipelines.append({"model": model, "backend": name, **pipeline_latency(runner, policy, cfg.pipeline_frames)})
    report = {"machine": machine(), "config": asdict(cfg), "peaks": peaks, "cells": [asdict(c) | {"frame_ms": c.frame_ms} for c in cells],
              "pipelines": pipelines, "skipped": skipped, "infer_sizes": sizes}
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(out.with_suffix(".json"), report)
    files.write_text(out.with_suffix(".md"), markdown(report))
    plots(cells, out)
    return report


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# nircolor bench: {', '.join(report['config']['models'])}", "",
             f"Machine: {m['cpu']} ({m['cores']} cores), GPU {m['gpu'] or 'none'}; torch {m['torch'] or 'not installed'}, onnxruntime {m['onnxruntime']}, "
             f"TensorRT {m['tensorrt'] or 'not installed'}. Peak (matrix multiply): " +
             ", ".join(f"{k} {v:.0f}" for k, v in report["peaks"].items()) + " GFLOP/s.", "",
             "| model | backend | precision | device | frame | network input | p50 ms | p95 ms | p99 ms | max ms | fps | GFLOP | of peak "
             "| + upsampling ms | frame ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in report["cells"]:
        lines.append(f"| {c['model']} | {c['backend']} | {c['precision']} | {c['device']} | {c['width']}x{c['height']} | "
                     f"{c['network_width']}x{c['network_height']} | {c['p50_ms']:.1f} | {c['p95_ms']:.1f} | {c['p99_ms']:.1f} | {c['max_ms']:.1f} | "
                     f"{c['fps']:.2f} | {_or_dash(c['gflop'], '.1f')} | {_or_dash(c['fraction_of_peak'], '.1%')} | {c['upsample_ms']:.1f} | "
                     f"{c['frame_ms']:.1f} |")
    for model, size in report.get("infer_sizes", {}).items():
        if size:
            lines += ["", f"{model} sees frames with their long side at most {size} px: p50 to max and fps are the network on "
                      "the downscaled input; frame ms adds the NIR-guided upsampling back to the frame's size."]
    for p in report["pipelines"]:
        e2e = p["stages"]["end_to_end"]
        share = ", ".join(f"{k} {v:.0%}" for k, v in p["share_of_busy_time"].items())
        lines += ["", f"Pipeline ({p['model']}, {p['backend']}, {p['policy']}, sample clip to null://): {p['frames_written']} frames, {p['dropped']} dropped, "
                  f"{e2e['fps']:.2f} fps, capture-to-output p50 {e2e['p50_ms']:.0f} ms, p95 {e2e['p95_ms']:.0f} ms, max {e2e['max_ms']:.0f} ms; "
                  f"share of stage time: {share}."]
    if report["skipped"]:
        lines += ["", "Not measured: " + "; ".join(report["skipped"])]
    return "\n".join(lines) + "\n"


def _or_dash(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def plots(cells: list[Cell], out: Path) -> None:
    """Latency and throughput plots beside the tables; skipped, and said, without matplotlib
    (the runtime extra leaves it out)."""
    try:
        import matplotlib
    except ImportError:
        print("no plots: matplotlib is not installed (pip install matplotlib)")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(9, 0.5 * len(cells)), 4.5))
    labels = [f"{c.model} {c.backend}\n{c.precision} {c.width}x{c.height}" for c in cells]
    ax.boxplot([c.samples_ms for c in cells], showfliers=True)
    ax.set_xticks(range(1, len(cells) + 1), labels, fontsize=7, rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("latency per frame (ms)")
    ax.set_title("Model-only latency distribution")
    fig.tight_layout()
    fig.savefig(out.with_name(out.name + "-latency.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in sorted({(c.model, c.backend, c.precision) for c in cells}):
        row = [c for c in cells if (c.model, c.backend, c.precision) == key]
        ax.plot([c.width * c.height / 1e6 for c in row], [1000 / c.frame_ms for c in row], marker="o", label=" ".join(key))
    ax.set_xlabel("megapixels per frame")
    ax.set_ylabel("frames per second (with upsampling)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("Throughput against resolution")
    fig.tight_layout()
    fig.savefig(out.with_name(out.name + "-throughput.png"), dpi=120)
    plt.close(fig)

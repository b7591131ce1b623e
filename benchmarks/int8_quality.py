"""What INT8 costs in colour and what it saves in time, on this CPU.

Quality, by scene-level cross-validation: for each fold model of a CV run (runs/cv/<net>/fold*/
best.pt, from `nircolor cv`), the FP32 frame graph is exported, quantized (export/int8.py,
calibrated on real frames of that fold's *training* scenes only), and both graphs are scored
against the ground truth of the fold's held-out scenes at full resolution: PSNR, SSIM, angular
error, the per-image change and the worst images.

Speed: the shipped model's FP32 and INT8 graphs at 640x480 on one thread, run alternately so
both see the same machine load; medians and their ratio.

    python benchmarks/int8_quality.py estuary16 --cv runs/cv/estuary [--folds 0,1]
    python benchmarks/int8_quality.py effnet32            # speed only, when no CV run is at hand

Writes benchmarks/results/int8-<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from nircolor.export import int8
from nircolor.export.pipeline import export_checked
from nircolor.models import zoo
from nircolor.models.data import find_pairs, load_pair, read_split, split_pairs
from nircolor.models.metrics import METRIC_NAMES, all_metrics

from harness import DATA, RESULTS, write_markdown, write_report

SPEED_SIZE = (640, 480)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def speed(fp32: Path, quantized: Path, frame: np.ndarray, runs: int = 15) -> dict:
    sessions = {"fp32": _session(fp32), "int8": _session(quantized)}
    feed = {"nir": frame[None, None]}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for s in sessions.values():
        s.run(None, feed)
    for _ in range(runs):
        for k, s in sessions.items():
            start = time.perf_counter()
            s.run(None, feed)
            times[k].append(1000 * (time.perf_counter() - start))
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {"size": list(SPEED_SIZE), "runs": runs, "threads": 1, "fp32_ms": med["fp32"], "int8_ms": med["int8"],
            "speedup": med["fp32"] / med["int8"]}


def score_pairs(fp32: Path, quantized: Path, pairs, fold: str) -> list[dict]:
    sessions = {"fp32": _session(fp32), "int8": _session(quantized)}
    rows = []
    for paths in pairs:
        pair = load_pair(paths)
        row = {"pair": paths.key, "fold": fold}
        for k, s in sessions.items():
            row[k] = all_metrics(s.run(None, {"nir": pair.nir[None, None]})[0][0], pair.rgb)
        rows.append(row)
    return rows


def score_fold(fold_dir: Path, scratch: Path, calibration_limit: int, method: str, float_first: int) -> list[dict]:
    held_out = read_split(fold_dir / "fold_split.txt")
    train_pairs, test_pairs = split_pairs(find_pairs(DATA), held_out)
    fp32 = scratch / f"{fold_dir.name}.onnx"
    quantized = scratch / f"{fold_dir.name}.int8.onnx"
    export_checked(fold_dir / "best.pt", fp32)
    frames = [load_pair(p).nir for p in train_pairs[:: max(1, len(train_pairs) // calibration_limit)]][:calibration_limit]
    int8.quantize(fp32, quantized, frames, method=method, float_first_convs=float_first)
    return score_pairs(fp32, quantized, test_pairs, fold_dir.name)


def summary(rows: list[dict]) -> dict:
    out = {}
    for m in METRIC_NAMES:
        a = np.array([r["fp32"][m] for r in rows])
        b = np.array([r["int8"][m] for r in rows])
        out[m] = {"fp32": float(a.mean()), "int8": float(b.mean()), "delta": float((b - a).mean())}
    deltas = sorted(rows, key=lambda r: r["int8"]["psnr"] - r["fp32"]["psnr"])
    out["worst"] = [{"pair": r["pair"], "psnr_delta": r["int8"]["psnr"] - r["fp32"]["psnr"]} for r in deltas[:5]]
    by_fold: dict[str, list[float]] = {}
    for r in rows:
        by_fold.setdefault(r["fold"], []).append(r["int8"]["psnr"] - r["fp32"]["psnr"])
    out["psnr_delta_by_fold"] = {k: float(np.mean(v)) for k, v in by_fold.items()}
    return out


def markdown(name: str, result: dict) -> str:
    s = result["speed"]
    md = [f"# INT8 against FP32: {name}", "", f"`{result['command']}`", "",
          f"Speed (ONNX Runtime CPU, 1 thread, {s['size'][0]}x{s['size'][1]}, median of {s['runs']} alternated runs): "
          f"FP32 {s['fp32_ms']:.1f} ms, INT8 {s['int8_ms']:.1f} ms, **{s['speedup']:.2f}x**.", ""]
    q = result.get("quality")
    if q:
        what = (result.get("quality_note") or f"scene-level CV ({result['images']} held-out images, folds "
                f"{', '.join(q['psnr_delta_by_fold'])}; each INT8 graph calibrated on its fold's training scenes)")
        md += [f"Quality, {what}:", "",
               "| figure | FP32 | INT8 | INT8 - FP32 |", "| --- | --- | --- | --- |"]
        md += [f"| {m} | {q[m]['fp32']:.3f} | {q[m]['int8']:.3f} | {q[m]['delta']:+.3f} |" for m in METRIC_NAMES]
        md += ["", "PSNR change per fold: " + ", ".join(f"{k} {v:+.3f} dB" for k, v in q["psnr_delta_by_fold"].items()),
               "", "Largest PSNR losses: " + ", ".join(f"{w['pair']} {w['psnr_delta']:+.2f} dB" for w in q["worst"])]
    return "\n".join(md) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="shipped model (its ONNX file is timed)")
    parser.add_argument("--cv", help="a `nircolor cv` output folder of the same recipe: quality by cross-validation")
    parser.add_argument("--folds", help="comma-separated folds (default: every finished one)")
    parser.add_argument("--calibration-frames", type=int, default=32)
    parser.add_argument("--method", default="percentile", choices=int8.CALIBRATION_METHODS,
                        help="calibration method; results of another than the default go to int8-<name>-<method>")
    parser.add_argument("--float-first", type=int, default=int8.FLOAT_FIRST_CONVS,
                        help="the network's first convolutions kept float; results of another than the default go to "
                             "int8-<name>-first<N>")
    parser.add_argument("--shipped-change", action="store_true",
                        help="without fold models: the change INT8 makes to the shipped model's scores on every pair (it saw "
                             "them all, so this is the cost of quantizing, not a quality figure)")
    args = parser.parse_args()
    command = "python benchmarks/int8_quality.py " + " ".join(
        [args.name] + ([f"--cv {args.cv}"] if args.cv else []) + ([f"--folds {args.folds}"] if args.folds else [])
        + (["--shipped-change"] if args.shipped_change else []) + ([f"--method {args.method}"] if args.method != "percentile" else [])
        + ([f"--float-first {args.float_first}"] if args.float_first != int8.FLOAT_FIRST_CONVS else []))
    src = zoo.shipped_onnx(args.name)
    if src is None:
        raise SystemExit(f"{args.name} ships no checked ONNX file; run python scripts/ship_onnx.py {args.name}")
    pairs = find_pairs(DATA)
    result: dict = {"model": args.name, "command": command}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        calibration = [load_pair(p).nir for p in pairs[:: len(pairs) // args.calibration_frames]][: args.calibration_frames]
        quantized = scratch / "shipped.int8.onnx"
        result["parity"] = str(int8.quantize(src, quantized, calibration, method=args.method, float_first_convs=args.float_first))
        frame = cv2.resize(load_pair(pairs[7]).nir, SPEED_SIZE, interpolation=cv2.INTER_AREA)
        result["speed"] = speed(src, quantized, frame)
        if args.cv:
            folds = sorted(Path(args.cv).glob("fold*"))
            if args.folds:
                folds = [f for f in folds if f.name.removeprefix("fold") in args.folds.split(",")]
            rows = [r for f in folds if (f / "best.pt").exists() for r in score_fold(f, scratch, args.calibration_frames, args.method, args.float_first)]
            result["images"] = len(rows)
            result["quality"] = summary(rows)
            result["rows"] = rows
        elif args.shipped_change:
            rows = score_pairs(src, quantized, pairs, "shipped")
            result["images"], result["quality"], result["rows"] = len(rows), summary(rows), rows
            result["quality_note"] = "the shipped model on every pair (it saw them all): the change quantizing makes, not a CV figure"
    variant = ("" if args.method == "percentile" else f"-{args.method}") + (
        "" if args.float_first == int8.FLOAT_FIRST_CONVS else f"-first{args.float_first}")
    out = RESULTS / f"int8-{args.name}{variant}"
    write_report(out.with_suffix(".json"), result)
    write_markdown(out.with_suffix(".md"), markdown(args.name, result))
    print(markdown(args.name, result))


if __name__ == "__main__":
    main()

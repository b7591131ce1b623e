"""Latency of one model through PyTorch and ONNX Runtime (FP32, FP16; float or uint8 I/O) on
this machine, end to end from a uint8 NIR frame to a uint8 HxWx3 RGB frame, in one run.

    python benchmarks/export_latency.py --model default --size 480x640 --runs 30

Prints a Markdown table and writes benchmarks/results/export-latency-<model>.json with the
machine and the resolved configuration.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from nircolor.export.check import compare, onnx_runner, pad_frames, sample_frames, torch_runner
from nircolor.export.onnx import export_onnx
from nircolor.models import checkpoint, zoo
from nircolor.runtime import frames, frames_torch

from harness import RESULTS, latency, time_calls, write_report



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--size", default="480x640", help="HxW of the frame (padded to the model's multiple)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    net, card = checkpoint.load(zoo.resolve(args.model))
    rng = np.random.default_rng(0)
    (frame,) = pad_frames([(rng.random((h, w)) * 255).astype(np.uint8)], card.pad_multiple)

    @torch.inference_mode()
    def pytorch(nir: np.ndarray) -> np.ndarray:
        y = net(frames_torch.nir_to_network(torch.from_numpy(nir), card.input_range))
        return frames_torch.network_to_rgb(y, card.output_range).contiguous().numpy()

    variants = {"PyTorch FP32": pytorch}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for io in ("float32", "uint8"):
            for fp16 in (False, True):
                paths[(io, fp16)] = export_onnx(args.model, Path(tmp) / f"m-{io}-{fp16}.onnx", io=io, fp16=fp16)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        for (io, fp16), path in paths.items():
            sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            if io == "uint8":
                def run(nir, sess=sess):
                    return sess.run(None, {"nir": nir})[0]
            else:
                def run(nir, sess=sess):  # host does the conversions the uint8 graph does inside
                    y = sess.run(None, {"nir": frames.nir_to_network(nir, card.input_range)})[0]
                    return frames.network_to_rgb(y, card.output_range)
            variants[f"ONNX Runtime {'FP16' if fp16 else 'FP32'}, {io} I/O"] = run

        rows = {}
        for name, fn in variants.items():
            rows[name] = latency(time_calls(lambda fn=fn: fn(frame), args.runs))
        reference, _ = torch_runner(args.model)
        real_frames = pad_frames(sample_frames(limit=4), card.pad_multiple)
        parity = {f"{io} {'fp16' if fp16 else 'fp32'}": compare(reference, onnx_runner(p), real_frames, ("PyTorch", "ONNX")).psnr_min
                  for (io, fp16), p in paths.items()}
        parity["fp16 vs fp32 (float32 I/O)"] = compare(onnx_runner(paths[("float32", False)]), onnx_runner(paths[("float32", True)]), real_frames, ("fp32", "fp16")).psnr_min

    base = rows["PyTorch FP32"]["median_ms"]
    print(f"{args.model} at {frame.shape[2]}x{frame.shape[3]} (from {h}x{w}), {args.threads} threads, {args.runs} runs, uint8 frame in -> uint8 RGB out\n")
    print("| runner | median ms | p95 ms | min ms | speed vs PyTorch |\n| --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['min_ms']:.1f} | {base / r['median_ms']:.2f}x |")
    print("\nParity, worst of 4 real frames (PSNR dB):", json.dumps({k: round(v, 1) for k, v in parity.items()}))
    config = {**vars(args), "padded_shape": list(frame.shape)}
    write_report(RESULTS / f"export-latency-{args.model}.json", {"config": config, "latency": rows, "parity_psnr_min": parity})


if __name__ == "__main__":
    main()

"""What NIR-guided upsampling costs and gains: the model at full resolution against the model at
a fraction of it restored by bilinear resizing or by the NIR-guided filter, scored against the
ground truth of the fixed validation split at full resolution, and timed on this machine.

    python benchmarks/guided_upsampling.py --model default              # at the model's working size
    python benchmarks/guided_upsampling.py --model default --scale 0.5  # at a fixed fraction
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2

from nircolor.models.data import find_pairs, load_pair, read_split, split_pairs
from nircolor.models.metrics import mean_metrics, psnr, ssim
from nircolor.models.upsample import GuidedUpsampling, working_scale
from nircolor.runtime import backends
from nircolor.runtime.frames import crop_batch, pad_batch

from harness import DATA, RESULTS, ROOT, write_report



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--split", default=str(ROOT / "models" / "splits" / "epfl-rgbnir-val.txt"))
    ap.add_argument("--scale", type=float,
                    help="fraction of each frame's size (default: the model's working size, infer_size; 0.5 for a model without one)")
    args = ap.parse_args()
    _, pairs = split_pairs(find_pairs(args.data), read_split(args.split))
    runner, _ = backends.create(args.backend, args.model, device="cpu", whole_frames=False)
    rows = {"full": [], "bilinear": [], "guided": []}
    times = {"full": [], "bilinear": [], "guided": []}
    with runner:
        m = runner.info.pad_multiple

        def infer(nir):
            batch, padding = pad_batch([nir], m)
            return crop_batch(runner.infer(batch), padding)[0]

        for p in pairs:
            pair = load_pair(p)
            nir, gt = pair.nir, pair.rgb
            size = runner.info.infer_size
            up = GuidedUpsampling(args.scale or (working_scale(*nir.shape, size) if size else 0.5))
            t = time.perf_counter()
            full = infer(nir)
            times["full"].append(time.perf_counter() - t)
            t = time.perf_counter()
            nir_small = up.downscale(nir)
            small = infer(nir_small)
            t_small = time.perf_counter() - t
            t = time.perf_counter()
            bil = cv2.resize(small, (nir.shape[1], nir.shape[0]), interpolation=cv2.INTER_LINEAR)
            times["bilinear"].append(t_small + time.perf_counter() - t)
            t = time.perf_counter()
            guided = up.restore(small, nir, nir_small)
            times["guided"].append(t_small + time.perf_counter() - t)
            for name, img in (("full", full), ("bilinear", bil), ("guided", guided)):
                rows[name].append({"psnr": psnr(img, gt), "ssim": ssim(img, gt), "angular_error": 0.0, "cosine": 0.0, "l1": 0.0})
        how = f"scale {args.scale}" if args.scale else (f"working size {size} px (long side)" if size else "scale 0.5")
    print(f"{args.model} via {args.backend}, {len(pairs)} validation pairs at full resolution, {how}\n")
    print("| variant | PSNR dB | SSIM | median ms per frame |\n| --- | --- | --- | --- |")
    summary = {}
    for name in rows:
        m_ = mean_metrics(rows[name])
        ms = 1000 * statistics.median(times[name])
        summary[name] = {"psnr": m_["psnr"], "ssim": m_["ssim"], "median_ms": ms}
        label = {"full": "model at full resolution", "bilinear": f"model at {how} + bilinear", "guided": f"model at {how} + NIR-guided filter"}[name]
        print(f"| {label} | {m_['psnr']:.2f} | {m_['ssim']:.4f} | {ms:.0f} |")
    write_report(RESULTS / f"guided-upsampling-{Path(args.model).stem}.json", {"config": vars(args), "summary": summary})


if __name__ == "__main__":
    main()

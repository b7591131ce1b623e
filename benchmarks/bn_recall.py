"""Do batch-norm running statistics distort the Estuary network's output at recall?

Limmer & Lensch did not use the running averages at recall, "because using them resulted in
severely distorted outputs". This scores each CV fold model of a recipe on its own fold twice:
with the running averages (what nircolor ships and exports) and with each frame's own
statistics (`Estuary.use_frame_statistics`, i.e. batch norm in training mode on one frame).

    python benchmarks/bn_recall.py runs/cv/estuary --name estuary16

Writes benchmarks/results/bn-recall-NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch

from nircolor.models import checkpoint
from nircolor.models.data import find_pairs, load_pair, read_split, split_pairs
from nircolor.models.inference import colorize
from nircolor.models.metrics import all_metrics, mean_metrics

from harness import DATA, RESULTS, write_markdown, write_report



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cv_dir", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pairs = find_pairs(args.data)
    rows = {"running": [], "frame": []}
    for fold_dir in sorted(args.cv_dir.glob("fold*")):
        running, card = checkpoint.load(fold_dir / "best.pt")
        if not hasattr(running, "use_frame_statistics"):
            raise SystemExit(f"{fold_dir / 'best.pt'} is a {card.architecture!r} model; this compares Estuary networks")
        frame = copy.deepcopy(running)
        frame.use_frame_statistics()
        _, fold_pairs = split_pairs(pairs, read_split(fold_dir / "fold_split.txt"))
        for paths in fold_pairs:
            pair = load_pair(paths)
            for kind, net in (("running", running), ("frame", frame)):
                rows[kind].append({"pair": paths.key, **all_metrics(colorize(net, pair.nir, infer_size=card.infer_size), pair.rgb)})
    means = {kind: mean_metrics(r) for kind, r in rows.items()}
    gain = np.array([f["psnr"] - r["psnr"] for f, r in zip(rows["frame"], rows["running"])])
    report = {"cv_dir": str(args.cv_dir), "images": len(rows["running"]), "means": means,
              "frame_minus_running_psnr": {"median": float(np.median(gain)), "min": float(gain.min()), "max": float(gain.max()),
                                           "frame_better": int((gain > 0).sum())}}
    write_report(RESULTS / f"bn-recall-{args.name}.json", report)
    g = report["frame_minus_running_psnr"]
    md = [f"# Batch-norm statistics at recall: {args.name}", "",
          f"`python benchmarks/bn_recall.py {args.cv_dir} --name {args.name}`: every CV fold model on its own fold, "
          f"{report['images']} images at full resolution.", "",
          "| statistics at recall | PSNR dB | SSIM | AE deg |", "| --- | --- | --- | --- |"]
    for kind, label in (("running", "running averages (shipped, exported)"), ("frame", "each frame's own (Limmer & Lensch)")):
        m = means[kind]
        md.append(f"| {label} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['angular_error']:.2f} |")
    md += ["", f"Per image, frame statistics minus running averages: median {g['median']:+.2f} dB (from {g['min']:+.2f} to "
               f"{g['max']:+.2f}); frame statistics better on {g['frame_better']} of {report['images']}."]
    write_markdown(RESULTS / f"bn-recall-{args.name}.md", md)
    print("\n".join(md))


if __name__ == "__main__":
    main()

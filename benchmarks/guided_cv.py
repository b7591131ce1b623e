"""The frame graph's NIR-guided upsampling (window radius and regularisation) scored on a CV run's
held-out folds at full resolution: each fold's model colours each of its held-out images once at
the working size, then every radius / eps pair restores it to full size exactly as the exported
graph does (FrameGraph._guided), and PSNR, SSIM, angular error and images below grey are
averaged per setting. Bilinear (no NIR structure) is shown beside them.

The upsampling is a run-time choice, so it is chosen like a recipe: on some folds (--folds),
then confirmed on the others.

    python benchmarks/guided_cv.py --cv runs/cv/r30-whole-flip-dn3 --folds 0 1 --name guided-cv-folds01
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from nircolor.models import checkpoint
from nircolor.models.cv import finished_folds
from nircolor.models.data import find_pairs, load_pair, read_split, split_pairs
from nircolor.models.frame_graph import FrameGraph
from nircolor.models.metrics import all_metrics, mean_metrics, nir_as_grey
from nircolor.runtime import frames_torch

from harness import DATA, RESULTS, write_report

BILINEAR = "bilinear"


def settings(radii: list[int], epsilons: list[float]) -> list[tuple[int, float] | str]:
    return [*itertools.product(radii, epsilons), BILINEAR]


@torch.inference_mode()
def restorations(graph: FrameGraph, nir: np.ndarray, choices: list, truth: np.ndarray | None = None) -> dict:
    """Full-resolution colourings of one NIR image, one per setting; the network runs once.
    Given the true colour (`truth`, HxWx3 uint8), it is restored instead of the network's colour,
    from the working size it is downscaled to as the NIR is: what the upsampling itself allows."""
    levels = torch.from_numpy(nir)[None, None].to(torch.float32)
    small = graph.working_frame(levels)
    if truth is None:
        colour_small = graph._network(small)
    else:
        colour_small = graph.working_frame(torch.from_numpy(truth).permute(2, 0, 1)[None].to(torch.float32))
    scaled = 1 if max(nir.shape) > graph.infer_size else 0
    out, kept = {}, (graph.radius, graph.eps)
    try:
        for choice in choices:
            if choice == BILINEAR:
                full = torch.nn.functional.interpolate(colour_small, size=nir.shape, mode="bilinear", align_corners=False) * 255.0
            else:
                graph.radius, graph.eps = choice
                full = graph._guided(colour_small, small, levels, scaled)
            out[choice] = frames_torch.levels_to_rgb(full)[0].numpy()
    finally:
        graph.radius, graph.eps = kept  # the graph is left as it was given
    return out


def label(choice) -> str:
    return choice if choice == BILINEAR else f"r{choice[0]} eps{choice[1]:g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cv", required=True, help="a cv run folder whose folds hold best.pt and fold_split.txt")
    ap.add_argument("--folds", type=int, nargs="+", help="only these folds (default: every finished fold)")
    ap.add_argument("--radius", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--eps", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--name", default="guided-cv")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--truth", action="store_true",
                    help="restore the true colour at the working size instead of the network's: the upsampling's ceiling")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    choices = settings(args.radius, args.eps)
    folds = {k: d for k, d in finished_folds(args.cv).items() if args.folds is None or k in args.folds}
    if not folds:
        raise SystemExit(f"no finished folds in {args.cv} (wanted {args.folds}): train or name another cv run")
    all_pairs = find_pairs(args.data)
    rows = {label(c): [] for c in choices}
    for k, fold_dir in sorted(folds.items()):
        net, card = checkpoint.load(fold_dir / "best.pt")
        net.eval()
        graph = FrameGraph.for_card(net, card)
        _, pairs = split_pairs(all_pairs, read_split(fold_dir / "fold_split.txt"))
        for paths in pairs:
            pair = load_pair(paths)
            grey = all_metrics(nir_as_grey(pair.nir), pair.rgb)["psnr"]
            for choice, rgb in restorations(graph, pair.nir, choices, pair.rgb if args.truth else None).items():
                m = all_metrics(rgb, pair.rgb)
                rows[label(choice)].append({"fold": k, "pair": paths.key, "category": paths.category, **m, "below_grey": m["psnr"] < grey})
        print(f"fold {k}: {len(pairs)} images", flush=True)
    summary = {name: {**mean_metrics(rs), "below_grey": sum(r["below_grey"] for r in rs), "images": len(rs)} for name, rs in rows.items()}
    what = "the true colour at the working size" if args.truth else "the network's colour"
    lines = [f"# Guided upsampling settings on {args.cv}, folds {' '.join(map(str, sorted(folds)))}: {what} restored", "",
             f"`python benchmarks/guided_cv.py {' '.join(sys.argv[1:])}` "
             f"(shipped: r{FrameGraph.radius_default} eps{FrameGraph.eps_default:g})", "",
             "| setting | PSNR dB | SSIM | angular error deg | below grey |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {s['psnr']:.3f} | {s['ssim']:.4f} | {s['angular_error']:.3f} | {s['below_grey']} / {s['images']} |"
              for name, s in summary.items()]
    write_report(RESULTS / args.name, {"cv": args.cv, "folds": sorted(folds), "truth": args.truth, "summary": summary, "rows": rows}, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

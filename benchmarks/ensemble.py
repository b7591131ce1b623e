"""Two runs of one recipe, image by image: each alone, their colours averaged, their weights averaged.

The same recipe trained twice scores an unseen image up to several dB apart (one run's exposure
guess is not the other's): that spread is variance, which an average removes. Averaging the two
colours (an ensemble) shows how much there is to gain, at twice the run-time cost; averaging the
weights (a model soup, scripts/soup.py: runs with one --seed and different --data-seed share
their initialisation) costs nothing at run time, and works only if the two runs stayed in one
basin. Each image is scored by fold models that never saw its scene.

    python benchmarks/ensemble.py runs/cv/r26-flip-dn3 runs/cv/r27-flip-dn3 --name r26-r27
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nircolor.models import checkpoint
from nircolor.models.cv import finished_folds
from nircolor.models.data import find_pairs, load_pair, read_split, split_pairs
from nircolor.models.inference import colorize
from nircolor.models.metrics import all_metrics, nir_as_grey

from harness import RESULTS, write_report

FIGURES = ("psnr", "ssim", "angular_error")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path, help="a cv run folder")
    ap.add_argument("b", type=Path, help="a cv run folder of the same recipe and folds")
    ap.add_argument("--data", type=Path, default=None, help="default: the data of A's cv_config.json")
    ap.add_argument("--name", required=True, help="results go to benchmarks/results/ensemble-NAME.{json,md}")
    args = ap.parse_args()
    data = args.data or Path(json.loads((args.a / "cv_config.json").read_text())["data"])
    folds_a, folds_b = finished_folds(args.a), finished_folds(args.b)
    folds = sorted(set(folds_a) & set(folds_b))
    if not folds:
        raise SystemExit(f"{args.a} and {args.b} have no finished fold in common")
    rows = []
    for k in folds:
        (net_a, card), (net_b, _) = checkpoint.load(folds_a[k] / "best.pt"), checkpoint.load(folds_b[k] / "best.pt")
        soup, soup_card = checkpoint.average([folds_a[k] / "best.pt", folds_b[k] / "best.pt"])
        _, pairs = split_pairs(find_pairs(data), read_split(folds_a[k] / "fold_split.txt"))
        for paths in pairs:
            pair = load_pair(paths)
            pa = colorize(net_a, pair.nir, infer_size=card.infer_size)
            pb = colorize(net_b, pair.nir, infer_size=card.infer_size)
            mean = np.round((pa.astype(np.float32) + pb) / 2).astype(np.uint8)
            ps = colorize(soup, pair.nir, infer_size=soup_card.infer_size)
            grey = all_metrics(nir_as_grey(pair.nir), pair.rgb)
            row = {"pair": paths.key, "fold": k, "grey": {f: grey[f] for f in FIGURES}}
            for name, pred in (("a", pa), ("b", pb), ("ensemble", mean), ("soup", ps)):
                scores = all_metrics(pred, pair.rgb)
                row[name] = {f: scores[f] for f in FIGURES}
            rows.append(row)
            print(f"{paths.key}: " + " ".join(f"{n} {row[n]['psnr']:.2f}" for n in ("a", "b", "ensemble", "soup")), flush=True)
    names = ("a", "b", "ensemble", "soup", "grey")
    means = {n: {f: float(np.mean([r[n][f] for r in rows])) for f in FIGURES} for n in names}
    below = {n: int(sum(r[n]["psnr"] < r["grey"]["psnr"] for r in rows)) for n in names[:4]}
    spread = float(np.std([r["a"]["psnr"] - r["b"]["psnr"] for r in rows]))
    md = [f"# Two runs of one recipe: {args.a} (a) and {args.b} (b)", "",
          f"Folds {', '.join(map(str, folds))}: {len(rows)} images, each scored by fold models that never saw its scene. "
          f"a - b per image: std {spread:.2f} dB.", "",
          "| colour | PSNR dB | SSIM | AE deg | below grey |", "| --- | --- | --- | --- | --- |"]
    labels = {"a": "a alone", "b": "b alone", "ensemble": "mean of the two colours (2x the run-time cost)",
              "soup": "mean of the two weights (scripts/soup.py, no run-time cost)", "grey": "NIR as grey"}
    for n in names:
        md.append(f"| {labels[n]} | {means[n]['psnr']:.3f} | {means[n]['ssim']:.3f} | {means[n]['angular_error']:.2f} | "
                  f"{below.get(n, '')} |")
    write_report(RESULTS / f"ensemble-{args.name}", {"a": str(args.a), "b": str(args.b), "folds": folds, "means": means,
                                                     "below_grey": below, "a_minus_b_std": spread, "rows": rows}, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()

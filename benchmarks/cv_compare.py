"""Two CV results compared image by image: is a recipe's gain more than the folds' noise?

Fold means swing by 0.3 dB from run to run of one recipe, so two 5-fold means that differ by
0.1 dB say little. Both results score the same images (each by the fold model that never saw
its scene), so the per-image differences are paired: this prints them per fold and per
category, how many images each side wins, and a 90 % interval of the mean difference from a
bootstrap over scenes (the fold file's scene groups resampled whole, since neighbouring shots
of one place are not independent images).

    python benchmarks/cv_compare.py runs/cv/r7-2100/cv.json runs/cv/r18-psnr-2100/cv.json
    python benchmarks/cv_compare.py "benchmarks/results/cv-inference-r7-2100.json#as trained" \\
        benchmarks/results/cv-psnr-loss-2100steps.json --name psnr-vs-l2-2100steps

A side is a `nircolor cv` cv.json (its `per_image` rows) or a benchmarks/cv_inference.py
result with the row to read after '#'. Only images present on both sides are compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from nircolor.models.data import CV_FOLDS
from nircolor.models.metrics import METRIC_NAMES, ORACLE_NAMES

from harness import RESULTS, write_report


def load_figures(source: str, figure: str = "psnr") -> dict[str, float]:
    """pair key -> one figure of one side: a metric (psnr, ssim, ...) or an oracle figure (true_chroma, ...)."""
    file, _, row = source.partition("#")
    path = Path(file)
    if path.is_dir():
        path = path / "cv.json"
    blob = json.loads(path.read_text())
    blob = blob.get("cv", blob)  # a model card's cv-NAME.json wraps the summary
    if row:
        if row not in blob.get("per_image", {}):
            raise SystemExit(f"cv_compare: {path} has no per-image row {row!r}; it has {sorted(blob.get('per_image', {}))}")
        if figure != "psnr":
            raise SystemExit(f"cv_compare: a '#{row}' row holds PSNR only, not {figure}")
        return dict(blob["per_image"][row])
    rows = blob.get("per_image")
    if not isinstance(rows, list):
        raise SystemExit(f"cv_compare: {path} holds no per-image figures (cv.json from before they were kept, or name a row after '#')")
    if figure in ORACLE_NAMES:
        if not all("oracle" in r for r in rows):
            raise SystemExit(f"cv_compare: {path} has images without the oracle decomposition (scored before it existed)")
        return {r["pair"]: r["oracle"][figure] for r in rows}
    return {r["pair"]: r[figure] for r in rows}


def scene_of(folds_file: Path) -> tuple[dict[str, str], dict[str, int]]:
    """pair -> scene id (a pair outside every group is its own scene), pair -> fold."""
    spec = json.loads(folds_file.read_text())
    scene = {key: f"group{i}" for i, group in enumerate(spec["groups"]) for key in group}
    fold = {key: k for k, keys in enumerate(spec["folds"]) for key in keys}
    return scene, fold


def groups(keys: list[str], label) -> dict:
    """label -> indices into `keys` of the keys with that label, labels in sorted order."""
    out: dict = {}
    for i, key in enumerate(keys):
        out.setdefault(label(key), []).append(i)
    return {k: np.array(out[k]) for k in sorted(out)}


def compare(a: dict[str, float], b: dict[str, float], folds_file: Path = CV_FOLDS, draws: int = 4000, seed: int = 0) -> dict:
    scene, fold = scene_of(folds_file)
    keys = sorted(set(a) & set(b))
    if not keys:
        raise SystemExit("cv_compare: the two sides share no image")
    diff = np.array([b[k] - a[k] for k in keys])
    folds = groups(keys, lambda key: fold.get(key, -1))
    by_fold = {k: {"images": len(idx), "a": float(np.mean([a[keys[i]] for i in idx])),
                   "b": float(np.mean([b[keys[i]] for i in idx])), "delta": float(diff[idx].mean())} for k, idx in folds.items()}
    by_category = {cat: {"images": len(idx), "delta": float(diff[idx].mean())}
                   for cat, idx in groups(keys, lambda key: key.split("/")[0]).items()}
    members = list(groups(keys, lambda key: scene.get(key, key)).values())
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(draws):
        picked = np.concatenate([members[j] for j in rng.integers(0, len(members), len(members))])
        means.append(diff[picked].mean())
    low, high = np.percentile(means, [5, 95])
    return {"images": len(keys), "scenes": len(members), "mean_delta": float(diff.mean()),
            "fold_mean_delta": float(np.mean([f["delta"] for f in by_fold.values()])),
            "interval_90": [float(low), float(high)], "b_better": int((diff > 0).sum()), "a_better": int((diff < 0).sum()),
            "per_fold": by_fold, "per_category": by_category}


def markdown(result: dict, a: str, b: str, figure: str = "psnr") -> list[str]:
    lo, hi = result["interval_90"]
    unit = {"psnr": "dB", "ssim": "SSIM", "angular_error": "deg", "cosine": "cosine", "l1": "L1"}.get(figure, f"dB ({figure})")
    lines = ["# CV compared image by image" + ("" if figure == "psnr" else f": {figure}"), "", f"A: `{a}`", f"B: `{b}`", "",
             f"{result['images']} images in {result['scenes']} scenes. B - A: {result['mean_delta']:+.3f} {unit} per image "
             f"(90 % scene bootstrap {lo:+.3f} to {hi:+.3f}), {result['fold_mean_delta']:+.3f} on the mean over folds; "
             f"B better on {result['b_better']}, A on {result['a_better']}.", "",
             f"| fold | images | A {unit} | B {unit} | B - A |", "| --- | --- | --- | --- | --- |"]
    digits = 3 if figure in ("ssim", "cosine", "l1") else 2
    lines += [f"| {k} | {f['images']} | {f['a']:.{digits}f} | {f['b']:.{digits}f} | {f['delta']:+.{digits}f} |" for k, f in result["per_fold"].items()]
    lines += ["", f"| category | images | B - A {unit} |", "| --- | --- | --- |"]
    lines += [f"| {c} | {v['images']} | {v['delta']:+.{digits}f} |" for c, v in result["per_category"].items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="the reference: cv.json, its run folder, or FILE.json#ROW")
    ap.add_argument("b", help="the one compared with it")
    ap.add_argument("--folds", type=Path, default=CV_FOLDS, help="fold file with the scene groups")
    ap.add_argument("--name", help="also write benchmarks/results/cv-compare-NAME.{json,md}")
    ap.add_argument("--figure", default="psnr", choices=METRIC_NAMES + ORACLE_NAMES,
                    help="the per-image figure compared (psnr; ssim; true_chroma: the brightness's worth, see models/metrics.py)")
    args = ap.parse_args(argv)
    result = compare(load_figures(args.a, args.figure), load_figures(args.b, args.figure), args.folds)
    lines = markdown(result, args.a, args.b, args.figure)
    print("\n".join(lines))
    if args.name:
        write_report(RESULTS / f"cv-compare-{args.name}", {"a": args.a, "b": args.b, "figure": args.figure, **result}, lines,
                     with_machine=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

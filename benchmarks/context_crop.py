"""Does the global context of a training crop do what the whole frame's does at recall?

Training shows the network 256-px crops, so its global-context path (the pooled ImageNet head,
squeezed, driving FiLM in every decoder level) learns from a crop's context; at recall it gets
the whole frame's. Each fold model of a CV run colours each of its fold's images at the working
size twice over: with the whole frame's context (as at recall) and with the context of a random
crop of the training crop's size put in its place (the rest of the network still sees the whole
frame). If the two scored alike, training on whole frames could not help through the context;
the change in mean luminance says how much of a scene's brightness the context decides.

    python benchmarks/context_crop.py runs/cv/r26-r18 --name r26

Writes benchmarks/results/context-crop-NAME.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from nircolor.models import calibration, checkpoint
from nircolor.models.checkpoint import OUTPUT_RANGE
from nircolor.models.cv import finished_folds
from nircolor.models.data import read_split
from nircolor.models.metrics import psnr
from nircolor.models.pairs import find_pairs, read_nir, read_rgb
from nircolor.models.upsample import GuidedUpsampling
from nircolor.runtime import frames_torch

from harness import DATA, RESULTS, write_report

LUMA = np.float32(calibration.LUMA)


def working(img: np.ndarray, infer_size: int | None) -> np.ndarray:
    """The frame the network sees: the long side down to the working size, as at recall."""
    h, w = img.shape[:2]
    up = GuidedUpsampling.for_frame(h, w, infer_size)
    if up is None:
        return img
    small_h, small_w = up.small_shape(h, w)
    return cv2.resize(img, (small_w, small_h), interpolation=cv2.INTER_AREA)


def colour(net, nir01: torch.Tensor, context: torch.Tensor | None = None,
           output_range: tuple[float, float] = OUTPUT_RANGE) -> tuple[np.ndarray, torch.Tensor]:
    """HxWx3 uint8 colour and the squeezed context it used; `context` replaces the frame's own."""
    seen = {}

    def hook(module, inputs, output):
        seen["context"] = output
        return context

    handle = net.context_squeeze.register_forward_hook(hook)
    try:
        y = net(nir01)
    finally:
        handle.remove()
    return frames_torch.unit_to_rgb(frames_torch.network_to_unit(y, output_range))[0].numpy(), seen["context"]


def fold_rows(fold_dir: Path, data: Path, crop: int, crops: int, rng: np.random.Generator) -> list[dict]:
    net, card = checkpoint.load(fold_dir / "best.pt")
    if getattr(net, "context_squeeze", None) is None:
        raise SystemExit(f"{fold_dir}/best.pt has no squeezed global context (effnet_unet with context_width): nothing to swap")
    net.eval()
    net.flip_average = False  # one frame, one context: the mirror would need its own
    keys = set(read_split(fold_dir / "fold_split.txt"))
    rows = []
    with torch.no_grad():
        for pair in (p for p in find_pairs(data) if p.key in keys):
            nir = working(read_nir(pair.nir), card.infer_size)
            rgb = working(read_rgb(pair.rgb), card.infer_size)
            x = torch.from_numpy(nir.astype(np.float32) / 255)[None, None]
            whole, _ = colour(net, x, output_range=card.output_range)
            h, w = nir.shape
            side = min(crop, h, w)
            scores, shifts = [], []
            for _ in range(crops):
                y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
                _, context = colour(net, x[..., y0:y0 + side, x0:x0 + side])
                swapped, _ = colour(net, x, context, card.output_range)
                scores.append(psnr(swapped, rgb))
                shifts.append(float(((swapped.astype(np.float32) - whole) @ LUMA).mean()))
            rows.append({"fold": fold_dir.name, "pair": pair.key, "whole_context_psnr": psnr(whole, rgb),
                         "crop_context_psnr": float(np.mean(scores)), "luma_change": float(np.mean(np.abs(shifts))),
                         "luma_error": float(((whole.astype(np.float32) - rgb) @ LUMA).mean())})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a nircolor cv run folder with finished folds")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--crop", type=int, default=256, help="the training crop's side at the working size")
    ap.add_argument("--crops", type=int, default=4, help="random crops per image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    folds = list(finished_folds(args.run).values())
    if not folds:
        raise SystemExit(f"no finished fold under {args.run}: give a nircolor cv run folder")
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    rows = [r for d in folds for r in fold_rows(d, args.data, args.crop, args.crops, rng)]
    md = [f"# The context of a crop against the whole frame's: {args.name}", "",
          f"`python benchmarks/context_crop.py {args.run} --crop {args.crop} --crops {args.crops} --name {args.name}`: each fold model "
          f"colours its fold's images at the working size with the whole frame's global context and with that of {args.crops} random "
          f"{args.crop}-px crops (mean over the crops); PSNR at the working size, luminance in grey levels.", "",
          "| fold | images | whole-frame context dB | crop context dB | difference | mean luma change from the crop's context | model's mean luma error |",
          "| --- | --- | --- | --- | --- | --- | --- |"]
    summary = []
    for d in folds:
        mine = [r for r in rows if r["fold"] == d.name]
        whole, cropped = np.mean([r["whole_context_psnr"] for r in mine]), np.mean([r["crop_context_psnr"] for r in mine])
        change, error = np.mean([r["luma_change"] for r in mine]), np.mean([abs(r["luma_error"]) for r in mine])
        summary.append({"fold": d.name, "images": len(mine), "whole_context_psnr": float(whole), "crop_context_psnr": float(cropped),
                        "luma_change": float(change), "abs_luma_error": float(error)})
        md.append(f"| {d.name} | {len(mine)} | {whole:.2f} | {cropped:.2f} | {cropped - whole:+.2f} | {change:.1f} | {error:.1f} |")
    write_report(RESULTS / f"context-crop-{args.name}", {"run": str(args.run), "crop": args.crop, "crops": args.crops, "seed": args.seed,
                                                        "folds": summary, "rows": rows}, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()

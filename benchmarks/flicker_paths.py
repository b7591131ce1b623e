"""Which part of the network passes a night camera's sensor noise into the colour.

The clips of benchmarks/temporal.py (a camera path over a photograph, fresh sensor noise on the
NIR in every frame) are coloured by a PyTorch model four ways: as it is; with the encoder's
pooled head (the global context) taken from the noise-free frame; with the whole encoder (skip
features and context) taken from the noise-free frame, so only the per-pixel head sees the
noise; and on the noise-free frame. The encoder's outputs are swapped by forward hooks, so the
model runs exactly as shipped otherwise (flip average, denoise). Flicker is temporal.py's
warping error, as a ratio of means against the RGB clip's.

    python benchmarks/flicker_paths.py --model default --pairs 2
        # writes benchmarks/results/flicker-paths-<model>.{json,md}, rewritten after every clip

Models with an `encoder` submodule returning (skip features, head) only (effnet_unet).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from nircolor.models import checkpoint, zoo
from nircolor.models.data import nir_to_tensor, tensor_to_rgb
from nircolor.models.pairs import find_pairs, read_nir, read_rgb

from harness import DATA, RESULTS, write_markdown, write_report
from temporal import PATHS, clip_photographs, render, warping_error

# name -> (encoder skip features from the clean frame, encoder head from the clean frame, input)
MODES = {
    "as shipped": (False, False, "noisy"),
    "context from the clean frame": (False, True, "noisy"),
    "encoder on the clean frame": (True, True, "noisy"),
    "the clean frame": (False, False, "clean"),
}


class EncoderSwap:
    """Forward hook on the encoder: records its output on a clean pass, then hands parts of that
    record back in place of what the encoder computes on the noisy pass."""

    def __init__(self, encoder: torch.nn.Module):
        self.recorded, self.use_taps, self.use_head, self.recording = None, False, False, False
        encoder.register_forward_hook(self)

    def __call__(self, module, args, output):
        if self.recording:
            self.recorded = output
            return output
        taps, head = output
        if self.use_taps:
            taps = self.recorded[0]
        if self.use_head:
            head = self.recorded[1]
        return taps, head


def colour(model: torch.nn.Module, frame: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return tensor_to_rgb(model(nir_to_tensor(frame)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--pairs", type=int, default=6, help="photographs to render clips from (temporal.py's choice)")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, card = checkpoint.load(zoo.resolve(args.model))
    model.eval()
    if not hasattr(model, "encoder"):
        raise SystemExit(f"{args.model} ({card.architecture}) has no encoder submodule to swap: this benchmark is for effnet_unet models")
    swap = EncoderSwap(model.encoder)
    pairs = find_pairs(args.data)
    chosen = clip_photographs(pairs, args.pairs)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    rows = []
    name = args.model.replace("/", "_")
    for k, paths in enumerate(chosen):
        nir, rgb = read_nir(paths.nir), read_rgb(paths.rgb)
        for path in PATHS:
            clean: list[np.ndarray] = []
            nirs, rgbs = render(nir, rgb, path, args.frames, seed=k, clean=clean)
            row = {"pair": paths.key, "path": path, "rgb_flicker": warping_error(rgbs, nirs, flow)}
            for mode, (use_taps, use_head, source) in MODES.items():
                outputs = []
                for noisy, still in zip(nirs, clean):
                    if use_taps or use_head:
                        swap.recording = True
                        colour(model, still)
                        swap.recording = False
                    swap.use_taps, swap.use_head = use_taps, use_head
                    outputs.append(colour(model, noisy if source == "noisy" else still))
                    swap.use_taps = swap.use_head = False
                row[mode] = warping_error(outputs, nirs, flow)
            rows.append(row)
            print(f"{paths.key} {path}: " + ", ".join(f"{m} {row[m] / row['rgb_flicker']:.2f}x" for m in MODES), flush=True)
            write(rows, args, name)


def write(rows: list[dict], args, name: str) -> None:
    rgb = float(np.mean([r["rgb_flicker"] for r in rows]))
    ratios = {m: float(np.mean([r[m] for r in rows]) / rgb) for m in MODES}
    write_report(RESULTS / f"flicker-paths-{name}.json", {"model": args.model, "frames": args.frames, "clips": len(rows),
                                                           "rows": rows, "ratio_of_means": ratios})
    md = [f"# Where the flicker comes from: {args.model}", "",
          f"`python benchmarks/flicker_paths.py --model {args.model} --pairs {args.pairs}`: {len(rows)} clips of {args.frames} frames "
          "(benchmarks/temporal.py's, PyTorch); network flicker as a multiple of the RGB clip's, with parts of the encoder fed the "
          "noise-free frame.", "",
          "| clip | camera | " + " | ".join(MODES) + " |", "| --- | --- | " + " | ".join("---" for _ in MODES) + " |"]
    md += [f"| {r['pair']} | {r['path']} | " + " | ".join(f"{r[m] / r['rgb_flicker']:.2f}" for m in MODES) + " |" for r in rows]
    md += ["", "Ratio of means: " + ", ".join(f"{m} {v:.2f}x" for m, v in ratios.items()) + "."]
    write_markdown(RESULTS / f"flicker-paths-{name}.md", md)


if __name__ == "__main__":
    main()

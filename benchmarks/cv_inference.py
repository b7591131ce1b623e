"""What the way a trained model is run, not trained, is worth: scored on scene-level CV.

Each fold model of a `nircolor cv` run colours the scenes it never saw, through the frame graph
(what `nircolor run` shows), in several ways:

- `as trained`: at the card's working size (the CV run's own figures);
- `working size N`: the network at another long side, restored by the same guided upsampling;
- `flip average`: the frame and its mirror image coloured as one batch and averaged
  (effnet_unet's `flip_average` option);

and two ways to hold the colour back towards NIR-as-grey where it may be wrong, each fitted on
the out-of-fold colourings of the other four folds' scenes and applied to this fold's (stacking):

- `global blend`: per channel, RGB = a * colour + b * grey + c (least squares);
- `per-pixel hold-back`: RGB = colour + w * (grey - colour), w a logistic function of the NIR,
  its local contrast, the colour's saturation, the colour's brightness against the NIR's and
  the frame's statistics (fitted at quarter resolution by Adam on the squared error).

Mean PSNR per fold, the mean over folds, how many images fall below grey. The first two folds
and the last three are also shown apart, so that a choice made on one group can be checked on
the other.

    python benchmarks/cv_inference.py runs/cv/r7-2100    # writes benchmarks/results/cv-inference-<run>.{json,md}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from nircolor.models import checkpoint
from nircolor.models.frame_graph import FrameGraph
from nircolor.models.metrics import nir_as_grey, psnr
from nircolor.models.pairs import find_pairs, read_nir, read_rgb

from harness import DATA, RESULTS, write_report

GROUPS = {"folds 0-1": (0, 1), "folds 2-4": (2, 3, 4)}


def fold_keys(run: Path) -> list[list[str]]:
    folds = []
    for k in range(5):
        lines = (run / f"fold{k}" / "fold_split.txt").read_text().splitlines()
        folds.append([x.strip() for x in lines if x.strip() and not x.startswith("#")])
    return folds


@torch.inference_mode()
def colourings(run: Path, folds: list[list[str]], pairs: dict, sizes: list[int]) -> dict[str, dict[str, np.ndarray]]:
    """variant -> pair key -> uint8 colouring, each by the model of the fold that held the pair out."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for k, keys in enumerate(folds):
        net, card = checkpoint.load(run / f"fold{k}" / "best.pt")
        variants = {"as trained": (False, card.infer_size)}
        if hasattr(net, "flip_average"):  # effnet_unet's option; other architectures have none
            variants["flip average"] = (True, card.infer_size)
        variants |= {f"working size {s}": (False, s) for s in sizes if s != card.infer_size}
        for name, (flip, size) in variants.items():
            if hasattr(net, "flip_average"):
                net.flip_average = flip
            graph = FrameGraph(net, card.pad_multiple, size, input_range=card.input_range, output_range=card.output_range).eval()
            for key in keys:
                out.setdefault(name, {})[key] = graph(torch.from_numpy(read_nir(pairs[key].nir))[None, None])[0].numpy()
        print(f"fold {k}: {len(keys)} scenes coloured {len(variants)} ways", flush=True)
    return out


def _quarter(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def holdback_features(nir: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per pixel: NIR, its 9x9 contrast, the colour's saturation, its brightness against the NIR
    (signed and absolute), the frame's NIR mean and spread and mean brightness gap, a constant."""
    mean = cv2.blur(nir, (9, 9))
    contrast = np.sqrt(np.maximum(cv2.blur(nir * nir, (9, 9)) - mean**2, 0))
    luma = colour @ np.array([0.299, 0.587, 0.114], np.float32)
    saturation = colour.max(-1) - colour.min(-1)
    frame = [np.full_like(nir, v) for v in (nir.mean(), nir.std(), luma.mean() - nir.mean())]
    return np.stack([nir, contrast, saturation, luma - nir, np.abs(luma - nir), *frame, np.ones_like(nir)], -1)


def stacked(folds: list[list[str]], colour: dict[str, np.ndarray], truth: dict, nirs: dict) -> dict[str, dict[str, float]]:
    """PSNR of the two hold-back rules, each fitted on the other folds' out-of-fold colourings."""
    rng = np.random.default_rng(0)
    small = {key: (_quarter(nirs[key]), _quarter(colour[key]), _quarter(truth[key])) for keys in folds for key in keys}
    feats = {key: torch.from_numpy(holdback_features(n, c)) for key, (n, c, _) in small.items()}
    # As tensors once: the grey minus the colour, the colour, the truth (the fit reads them 300 times).
    tensors = {key: (torch.from_numpy(n)[..., None] - torch.from_numpy(c), torch.from_numpy(c), torch.from_numpy(t))
               for key, (n, c, t) in small.items()}
    scores: dict[str, dict[str, float]] = {"global blend": {}, "per-pixel hold-back": {}}
    for k, keys in enumerate(folds):
        others = [key for j, ks in enumerate(folds) if j != k for key in ks]
        x, y = [], []
        for key in others:
            c, g, t = colour[key].reshape(-1, 3), nirs[key].reshape(-1, 1), truth[key].reshape(-1, 3)
            pick = rng.choice(len(c), 4000, replace=False)
            x.append(np.concatenate([c[pick], g[pick]], 1) / 255.0)
            y.append(t[pick] / 255.0)
        x, y = np.concatenate(x), np.concatenate(y)
        coef = [np.linalg.lstsq(np.stack([x[:, ch], x[:, 3], np.ones(len(x))], 1), y[:, ch], rcond=None)[0] for ch in range(3)]
        theta = torch.zeros(next(iter(feats.values())).shape[-1], 3)
        theta[-1] = -3.0  # start close to the colour as it is
        theta.requires_grad_(True)
        opt = torch.optim.Adam([theta], lr=0.05)
        for _ in range(300):
            loss = sum(((tensors[key][1] + torch.sigmoid(feats[key] @ theta) * tensors[key][0] - tensors[key][2]) ** 2).mean()
                       for key in others)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for key in keys:
            c, g = colour[key].astype(np.float32) / 255, nirs[key].astype(np.float32)[..., None] / 255
            blend = np.stack([coef[ch][0] * c[..., ch] + coef[ch][1] * g[..., 0] + coef[ch][2] for ch in range(3)], -1)
            with torch.no_grad():
                weight = torch.sigmoid(torch.from_numpy(holdback_features(g[..., 0], c)) @ theta).numpy()
            held = c + weight * (g - c)
            for name, img in (("global blend", blend), ("per-pixel hold-back", held)):
                scores[name][key] = psnr(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8), truth[key])
        print(f"fold {k}: hold-back rules fitted on the other folds", flush=True)
    return scores


def summary(scores: dict[str, float], grey: dict[str, float], folds: list[list[str]]) -> dict:
    per_fold = [float(np.mean([scores[key] for key in keys])) for keys in folds]
    row = {"mean_over_folds": float(np.mean(per_fold)), "per_fold": per_fold, "below_grey": sum(scores[k] < grey[k] for k in scores)}
    for group, members in GROUPS.items():
        row[group] = float(np.mean([per_fold[k] for k in members]))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a `nircolor cv` run folder with fold0..fold4/best.pt")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sizes", default="320,448", help="other working sizes to try (comma-separated)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folds = fold_keys(args.run)
    pairs = {p.key: p for p in find_pairs(args.data)}
    truth = {key: read_rgb(pairs[key].rgb) for keys in folds for key in keys}
    nirs = {key: read_nir(pairs[key].nir) for keys in folds for key in keys}
    grey = {key: psnr(nir_as_grey(nirs[key]), truth[key]) for key in truth}
    made = colourings(args.run, folds, pairs, [int(s) for s in args.sizes.split(",") if s])
    scores = {name: {key: psnr(img, truth[key]) for key, img in by_key.items()} for name, by_key in made.items()}
    scores |= stacked(folds, made["as trained"], truth, nirs)
    rows = {"NIR as grey": summary(grey, grey, folds)} | {name: summary(s, grey, folds) for name, s in scores.items()}
    md = [f"# Ways to run the fold models of {args.run.name}", "",
          f"`python benchmarks/cv_inference.py {args.run}`: {len(truth)} scenes at full resolution, each coloured by the "
          "fold model that never saw it; mean PSNR dB per fold and over folds.", "",
          "| picture | folds 0-1 | folds 2-4 | mean over folds | per fold | below grey |", "| --- | --- | --- | --- | --- | --- |"]
    md += [f"| {name} | {r['folds 0-1']:.2f} | {r['folds 2-4']:.2f} | {r['mean_over_folds']:.3f} | "
           f"{' / '.join(f'{v:.2f}' for v in r['per_fold'])} | {r['below_grey']}/{len(truth)} |" for name, r in rows.items()]
    md += ["", "Hold-back rules are fitted on the other four folds' out-of-fold colourings of the `as trained` picture."]
    write_report(RESULTS / f"cv-inference-{args.run.name}.json", {"run": str(args.run), "rows": rows,
                                                                   "per_image": {n: s for n, s in scores.items()}}, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()

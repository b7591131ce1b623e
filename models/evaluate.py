"""`nircolor eval`: full-resolution inference over a folder of pairs, with figures.

Per image and on average: PSNR, SSIM, angular error, cosine and L1 for the model and for the
trivial baseline "NIR copied to grey RGB" (the first column of SNet's Table 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from tqdm import tqdm

from nircolor import files

from . import checkpoint, zoo
from .data import Pair, find_pairs, load_pair, read_split, split_pairs
from .inference import colorize
from .metrics import METRIC_NAMES, all_metrics, mean_metrics, nir_as_grey, oracle_decomposition


@dataclass
class EvalReport:
    model: str
    data: str
    rows: list[dict]
    mean: dict[str, float]
    baseline_mean: dict[str, float]
    seconds_per_image: float

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "data": self.data,
            "images": len(self.rows),
            "mean": self.mean,
            "baseline_nir_as_grey": self.baseline_mean,
            "tail": tail_figures(self.rows),
            "per_category": per_category(self.rows),
            "seconds_per_image": self.seconds_per_image,
            "per_image": self.rows,
        }

    def table(self) -> str:
        head = f"{'':24s}" + "".join(f"{n:>15s}" for n in METRIC_NAMES)
        lines = [head]
        for label, m in (("NIR as grey (baseline)", self.baseline_mean), (self.model, self.mean)):
            lines.append(f"{label[:24]:24s}" + "".join(f"{m[n]:15.4f}" for n in METRIC_NAMES))
        tail = tail_figures(self.rows)
        lines.append(f"10th-percentile PSNR {tail['psnr_p10']:.2f} dB; {tail['below_grey']} of {len(self.rows)} images below "
                     f"NIR-as-grey; worst: " + ", ".join(f"{w['pair']} {w['psnr']:.1f} dB" for w in tail["worst"][:3]))
        return "\n".join(lines)


def tail_figures(rows: list[dict], worst: int = 5) -> dict:
    """What a mean hides: the 10th-percentile PSNR, how many images score below NIR-as-grey,
    and the worst images (with the grey baseline's PSNR beside each)."""
    psnrs = np.array([r["psnr"] for r in rows])
    ranked = sorted(rows, key=lambda r: r["psnr"])[:worst]
    return {
        "psnr_p10": float(np.percentile(psnrs, 10)),
        "below_grey": int(sum(r["psnr"] < r["baseline"]["psnr"] for r in rows)),
        "worst": [{"pair": r["pair"], "psnr": r["psnr"], "ssim": r["ssim"], "angular_error": r["angular_error"],
                   "grey_psnr": r["baseline"]["psnr"]} for r in ranked],
    }


def per_category(rows: list[dict]) -> dict[str, dict]:
    """Mean figures of each category (the part of a pair's key before the slash), for the
    model and for NIR-as-grey."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["pair"].split("/")[0], []).append(r)
    return {cat: {"images": len(rs), **mean_metrics(rs), "grey": mean_metrics([r["baseline"] for r in rs])}
            for cat, rs in sorted(groups.items())}


def comparison_grid(triples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], width: int = 384) -> np.ndarray:
    """Rows of NIR | prediction | ground truth, each scaled to `width` pixels wide (RGB)."""
    rows = []
    for nir, pred, gt in triples:
        h = round(nir.shape[0] * width / nir.shape[1])
        cells = [cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA) for img in (nir_as_grey(nir), pred, gt)]
        rows.append(np.concatenate(cells, axis=1))
    widest = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 4), (0, widest - r.shape[1]), (0, 0))) for r in rows], axis=0)


def evaluate(
    model: str,
    data: str | Path | None = None,
    split: str | Path | None = None,
    save_dir: str | Path | None = None,
    json_path: str | Path | None = None,
    grid_path: str | Path | None = None,
    grid_images: int = 4,
    device: str = "cpu",
    degrade: Callable[[np.ndarray, int], np.ndarray] | None = None,
    progress: bool = True,
) -> EvalReport:
    """Score `model` on the pairs of `data` (only those in `split`, if given) at full
    resolution. `degrade(nir, seed)` replaces each NIR image first (the robustness benchmark);
    the grey baseline then shows the degraded NIR too."""
    ckpt_path = zoo.resolve(model)
    net, card = checkpoint.load(ckpt_path)
    net.to(device)
    data = Path(data) if data is not None else zoo.SAMPLES_DIR
    pairs = find_pairs(data)
    if split is not None:
        _, pairs = split_pairs(pairs, read_split(split))
    rows, baseline_rows, triples, seconds = [], [], [], 0.0
    for i, paths in enumerate(tqdm(pairs, desc=f"eval {model}", unit="img", dynamic_ncols=True, disable=not progress)):
        pair = load_pair(paths)
        if degrade is not None:
            pair = Pair(paths, degrade(pair.nir, i), pair.rgb)
        start = time.perf_counter()
        pred = colorize(net, pair.nir, device, infer_size=card.infer_size)
        seconds += time.perf_counter() - start
        scores = all_metrics(pred, pair.rgb)
        baseline = all_metrics(nir_as_grey(pair.nir), pair.rgb)
        rows.append({"pair": paths.key, "height": pair.nir.shape[0], "width": pair.nir.shape[1], **scores, "baseline": baseline,
                     "oracle": oracle_decomposition(pred, pair.rgb)})
        baseline_rows.append(baseline)
        if save_dir is not None:
            write_image(Path(save_dir) / paths.category / f"{paths.pair_id}.png", pred)
        if len(triples) < grid_images:
            triples.append((pair.nir, pred, pair.rgb))
    report = EvalReport(
        model=str(model),
        data=str(data),
        rows=rows,
        mean=mean_metrics(rows),
        baseline_mean=mean_metrics(baseline_rows),
        seconds_per_image=seconds / len(rows),
    )
    if json_path is not None:
        files.write_json(json_path, {**report.to_dict(), "checkpoint": str(ckpt_path), "card": card.to_dict(), "device": device,
                                     "torch": str(torch.__version__)})
    if grid_path is not None and triples:
        write_image(grid_path, comparison_grid(triples))
    return report


def write_image(path: str | Path, rgb: np.ndarray, params: tuple[int, ...] = ()) -> None:
    """An RGB image written whole (nircolor.files); the format follows the suffix."""
    with files.atomic_path(path) as temporary:
        if not cv2.imwrite(str(temporary), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params)):
            raise OSError(f"could not write {path}; check that the folder is writable and the suffix names an image format")

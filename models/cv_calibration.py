"""`nircolor cv --from RUN --calibrate`: models.calibration fitted on a cv run's folds, scored honestly.

Every image of a cv run was coloured by the one fold model that never saw its scene: those
out-of-fold colours are what a calibration is fitted on. Fold k's model gets the coefficients
fitted on the other folds' images only, and is then scored on fold k as `nircolor cv` scores any
fold: no image helps choose the correction it is scored with. The coefficients fitted on every
fold (`calibration.json`, "all_folds") are the ones a model trained on every pair is shipped with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from nircolor import files
from nircolor.runtime import frames_torch

from . import calibration, checkpoint
from .data import find_pairs, load_pair, read_split, split_pairs
from .frame_graph import FrameGraph

SAMPLES = "calibration_samples.npz"


@torch.inference_mode()
def collect_fold(fold_dir: Path, data: str | Path) -> list[calibration.Sample]:
    """The uncalibrated working-size colour of fold_dir/best.pt on each pair of its fold, as
    calibration samples; cached beside the model (recomputed when the model is newer)."""
    model_path, cached = fold_dir / "best.pt", fold_dir / SAMPLES
    if cached.exists() and cached.stat().st_mtime >= model_path.stat().st_mtime:
        return calibration.load_samples(cached)
    net, card = checkpoint.load(model_path)
    if not hasattr(net, "calibration_guide") or not card.infer_size:
        raise calibration.CalibrationError(f"{model_path} is a {card.architecture} network without a working size; "
                                           "calibration is an option of effnet_unet models trained with --infer-size")
    graph = FrameGraph.for_card(net, card)
    _, pairs = split_pairs(find_pairs(data), read_split(fold_dir / "fold_split.txt"))
    samples = []
    for paths in pairs:
        pair = load_pair(paths)
        small = graph.working_frame(torch.from_numpy(pair.nir)[None, None].float())
        truth = graph.working_frame(torch.from_numpy(np.ascontiguousarray(pair.rgb.transpose(2, 0, 1)))[None].float())
        padded = frames_torch.pad_to_multiple(small, graph.multiple)  # the frame the network sees, as the graph pads it
        colour = frames_torch.network_to_unit(net.uncalibrated(frames_torch.unit_to_network(padded, card.input_range)), card.output_range)
        samples.append(calibration.sample_of(paths.key, colour, net.calibration_guide(padded), truth, tuple(small.shape[-2:])))
    calibration.save_samples(cached, samples)
    return samples


def calibrate_folds(run: Path, folds: list[int], data: str | Path) -> dict:
    """Fit the nested coefficients of each fold and the all-folds ones, set each fold's on its model
    in `run` (in place) and write run/calibration.json; returns what it wrote."""
    samples = {k: collect_fold(run / f"fold{k}", data) for k in folds}
    if len(samples) < 2:
        raise calibration.CalibrationError(f"{run} has {len(samples)} finished fold(s): a fold's calibration is fitted on "
                                           "the others, so at least two are needed")
    record = {"features": list(calibration.FEATURES), "folds": {}}
    for k in folds:
        others = [s for j in folds if j != k for s in samples[j]]
        coefficients = calibration.fit(others)
        checkpoint.with_options(run / f"fold{k}" / "best.pt", run / f"fold{k}" / "best.pt", calibration=coefficients.tolist())
        # the working-size figures of the fold before and after: a quick check before full-resolution scoring
        record["folds"][str(k)] = {"coefficients": coefficients.tolist(), "images": len(samples[k]),
                                   "working_size_psnr": calibration.mean_psnr(samples[k]),
                                   "working_size_psnr_calibrated": calibration.mean_psnr(samples[k], coefficients)}
    everything = [s for k in folds for s in samples[k]]
    record["all_folds"] = calibration.fit(everything).tolist()
    record["spread"] = np.std([v["coefficients"] for v in record["folds"].values()], axis=0).tolist()
    files.write_json(run / "calibration.json", record)
    return record


def describe(record: dict) -> str:
    lines = ["fold | images | working-size PSNR | calibrated", "--- | --- | --- | ---"]
    for k, v in record["folds"].items():
        lines.append(f"{k} | {v['images']} | {v['working_size_psnr']:.2f} | {v['working_size_psnr_calibrated']:.2f}")
    lines.append("all folds (R, G, B rows; " + ", ".join(record["features"]) + "): " + json.dumps(np.round(record["all_folds"], 4).tolist()))
    return "\n".join(lines)

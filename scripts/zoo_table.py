"""Measure every shipped model for `nircolor models` and the README's model table.

    python scripts/zoo_table.py            # all models in models/zoo.py
    python scripts/zoo_table.py estuary16  # re-measure one, keep the others' figures
    python scripts/zoo_table.py estuary16 --keep-latency   # new weights, same graph, busy CPU

Per model: parameters, GFLOPs of the network for a 640x480 frame (at its working size, where
the frame is seen), the median latency of its uint8 frame graph (working-size downscale,
network and NIR-guided upsampling) on a real 640x480 NIR frame with ONNX Runtime on this CPU,
and the cross-validation figures of its recipe (benchmarks/results/cv-*.json; none where a
model's recipe was never cross-validated). Writes models/weights/zoo.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from nircolor import files
from nircolor.export.onnx import export_onnx
from nircolor.models import checkpoint, zoo
from nircolor.models.data import find_pairs, read_nir
from nircolor.models.networks.blocks import count_parameters
from nircolor.models.upsample import GuidedUpsampling
from nircolor.runtime.bench import latency, machine, model_gflop, time_calls

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The CV run of each shipped model's recipe, and what it leaves out.
CV_SOURCES = {
    "effnet32": ("cv-effnet32.json", "the recipe (psnr objective, whole-frame 256 x 384 crops) at 2100 steps per fold, each fold model its run's last weights (none picked on the fold), run with flip_average and denoise as the shipped one is; the shipped weights had 2100 steps on all pairs"),
    "estuary16": ("cv-estuary16.json", "18 minutes of one CPU thread per fold (two folds side by side), as the shipped weights"),
    "triplet16": ("cv-triplet16.json", "18 minutes of one CPU thread per fold (two folds side by side), as the shipped weights"),
    "twobranch16": ("cv-twobranch16.json", "18 minutes of one CPU thread per fold (two folds side by side; folds 0-2 on an earlier machine, figures kept), as the shipped weights"),
    "snet16": ("cv-snet16.json",
               "SNet-16 with its EdgeNet objective at 8 minutes per fold; the shipped snet16 had about 4.5 hours"),
}
HEIGHT, WIDTH = 480, 640


def cv_figures(name: str) -> dict | None:
    if name not in CV_SOURCES:
        return None
    source, note = CV_SOURCES[name]
    file, _, inner = source.partition("#")
    if not (RESULTS / file).exists():
        return None
    blob = json.loads((RESULTS / file).read_text())
    if inner:
        head, _, key = inner.partition("/")
        blob = blob[head][key]
    blob = blob.get("cv", blob)
    o = blob["over_folds"]
    return {"source": f"benchmarks/results/{source}", "note": note, "folds": blob["folds"], "images": blob["images"],
            **{m: {"mean": o[m]["mean"], "std": o[m]["std"]} for m in ("psnr", "ssim", "angular_error")},
            "grey": {m: blob["grey_all_images"][m] for m in ("psnr", "ssim", "angular_error")},
            "psnr_p10": blob["tail"]["psnr_p10"], "below_grey": blob["tail"]["below_grey"]}


def ort_latency_ms(onnx_path: Path, frame: np.ndarray, runs: int = 20, threads: int = 2) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {"nir": frame[None, None]}
    return latency(time_calls(lambda: session.run(None, feed), runs))["median_ms"]


def measure(name: str, frame: np.ndarray, scratch: Path, kept: dict | None = None) -> dict:
    """The model's figures; `kept`, an earlier entry, lends its latency when the graph is the same
    architecture with the same options (new weights timed on a CPU that training jobs share
    would be timed wrong, and weights do not change the time)."""
    entry = zoo.ZOO[name]
    net, card = checkpoint.load(entry.path)
    up = GuidedUpsampling.for_frame(HEIGHT, WIDTH, card.infer_size)
    h, w = up.small_shape(HEIGHT, WIDTH) if up else (HEIGHT, WIDTH)
    onnx_path = zoo.shipped_onnx(name) or export_onnx(entry.path, scratch / f"{name}.onnx")
    same_graph = kept is not None and (kept.get("architecture"), kept.get("options")) == (card.architecture, card.options)
    if kept is not None and not same_graph:
        print(f"{name}: the graph changed since its latency was measured; measuring it now")
    return {
        "architecture": card.architecture, "options": card.options, "summary": entry.summary,
        "parameters": count_parameters(net), "file_mib": round(entry.path.stat().st_size / 2**20, 1),
        "working_size": [h, w], "gflop_640x480": round(model_gflop(name, h, w), 2),
        "ort_cpu_ms_640x480": kept["ort_cpu_ms_640x480"] if same_graph else round(ort_latency_ms(onnx_path, frame), 1),
        "cv": cv_figures(name),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="models to measure (default: every one in models/zoo.py)")
    ap.add_argument("--keep-latency", action="store_true",
                    help="keep the latency zoo.json has for a model whose architecture and options are unchanged")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in zoo.ZOO]
    if unknown:
        ap.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(zoo.ZOO)}")
    out = zoo.WEIGHTS_DIR / "zoo.json"
    table = json.loads(out.read_text()) if out.exists() else {"models": {}}
    nir = read_nir(find_pairs(zoo.SAMPLES_DIR)[0].nir)
    frame = np.ascontiguousarray(cv2.resize(nir, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.names or list(zoo.ZOO):
            kept = table["models"].get(name) if args.keep_latency else None
            table["models"][name] = measure(name, frame, Path(scratch), kept)
            print(name, json.dumps(table["models"][name]))
    table["models"] = {k: table["models"][k] for k in zoo.ZOO if k in table["models"]}
    table["machine"] = {**machine(), "latency": "median of 20 runs, ONNX Runtime CPU, 2 threads, uint8 frame graph, a real 640x480 NIR frame"}
    files.write_json(out, table)


if __name__ == "__main__":
    main()

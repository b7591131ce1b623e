"""What a network's width costs on this CPU: ONNX Runtime latency of its uint8 frame graph
(working-size downscale, network, NIR-guided upsampling) for a real 640x480 NIR frame, per
width, with untrained weights (speed does not depend on their values).

    python benchmarks/width_latency.py estuary --widths 16,32 --json benchmarks/results/width-estuary.json
    python benchmarks/width_latency.py triplet_cdcgan --widths 16,32,64 --options '{"layers": 6}'

The working size is nircolor's 384 px long side unless --infer-size says otherwise.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from nircolor.export.onnx import export_onnx
from nircolor.models import checkpoint, zoo
from nircolor.models.data import find_pairs, read_nir
from nircolor.models.networks import create
from nircolor.models.networks.blocks import count_parameters
from zoo_table import HEIGHT, WIDTH, ort_latency_ms  # beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch")
    ap.add_argument("--widths", required=True, help="comma-separated widths")
    ap.add_argument("--options", default="{}", help="other architecture options as JSON")
    ap.add_argument("--infer-size", type=int, default=384)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    nir = read_nir(find_pairs(zoo.SAMPLES_DIR)[0].nir)
    frame = np.ascontiguousarray(cv2.resize(nir, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for width in (int(w) for w in args.widths.split(",")):
            options = {**json.loads(args.options), "width": width}
            net = create(args.arch, **options).eval()
            card = checkpoint.ModelCard(args.arch, options, net.multiple, infer_size=args.infer_size)
            path = checkpoint.save(Path(scratch) / f"w{width}.pt", net, card)
            ms = ort_latency_ms(export_onnx(path, Path(scratch) / f"w{width}.onnx"), frame)
            rows.append({"arch": args.arch, "options": options, "parameters": count_parameters(net), "ort_cpu_ms_640x480": round(ms, 1)})
            print(f"{args.arch} {options}: {count_parameters(net) / 1e6:.2f} M parameters, {ms:.0f} ms for a 640x480 frame "
                  f"(ONNX Runtime CPU, 2 threads, working size {args.infer_size})")
    if args.json:
        args.json.write_text(json.dumps({"infer_size": args.infer_size, "torch": torch.__version__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

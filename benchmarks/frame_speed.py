"""The product's frame rate: each model's whole frame (the exported frame graph: working-size
downscale, network, NIR-guided upsampling) and then the stabiliser, at 640x480, 1280x720 and
1920x1080, the models side by side in one run.

    python benchmarks/frame_speed.py --model default,runs/x/best.pt --name width48-vs-32

The models take turns frame by frame (round-robin), so a change in the machine's load during
the run touches every model alike and the ratios between them hold even where the absolute
figures would not. Writes benchmarks/results/frame-speed-NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import cv2
import numpy as np

from nircolor.models.pairs import DatasetError, find_pairs, read_nir
from nircolor.runtime import backends
from nircolor.runtime.stabilise import TemporalStabiliser

from harness import DATA, RESULTS, write_report

SIZES = ((640, 480), (1280, 720), (1920, 1080))


def frame_costs(runners: dict, photo: np.ndarray, runs: int = 20, sizes=SIZES) -> list[dict]:
    """Median ms of each runner's frame and of the stabiliser's work on its output, per frame
    size: a slow pan over a real photograph (two frames 4 px apart, so the flow has motion to
    find), one piece of work after the other, the frame rate of a pipeline that did both in turn."""
    rows = []
    for w, h in sizes:
        frames = [cv2.resize(photo[:, k:], (w, h), interpolation=cv2.INTER_AREA) for k in (0, 4)]
        outputs = {name: [r.infer(f[None, None])[0] for f in frames] for name, r in runners.items()}
        stabilisers = {name: TemporalStabiliser() for name in runners}
        model_ms = {name: [] for name in runners}
        stab_ms = {name: [] for name in runners}
        for i in range(runs + 2):
            for name, runner in runners.items():
                f = frames[i % 2]
                t0 = time.perf_counter()
                runner.infer(f[None, None])
                t1 = time.perf_counter()
                stabilisers[name](f, outputs[name][i % 2])
                t2 = time.perf_counter()
                if i >= 2:  # the first two frames warm up the session and the stabiliser's state
                    model_ms[name].append(1000 * (t1 - t0))
                    stab_ms[name].append(1000 * (t2 - t1))
        for name in runners:
            frame, stab = float(np.median(model_ms[name])), float(np.median(stab_ms[name]))
            rows.append({"model": name, "size": f"{w}x{h}", "frame_ms": frame, "stabiliser_ms": stab, "fps": 1000 / (frame + stab)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="comma-separated zoo names or checkpoint paths")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--runs", type=int, default=30, help="timed frames per model and size")
    ap.add_argument("--data", default=str(DATA), help="folder of pairs; the first one's NIR is the photograph panned over")
    ap.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES), help="comma-separated WxH frame sizes")
    ap.add_argument("--name", required=True, help="the report is benchmarks/results/frame-speed-NAME.{json,md}")
    args = ap.parse_args()
    models = [m for m in args.model.split(",") if m]
    try:
        sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    except ValueError:
        raise SystemExit(f"--sizes takes WxH sizes separated by commas, e.g. 640x480,1920x1080; got {args.sizes!r}") from None
    try:
        photo = read_nir(find_pairs(args.data)[0].nir)
    except DatasetError as exc:
        raise SystemExit(f"frame_speed: {exc}") from None
    with contextlib.ExitStack() as stack:
        runners = {m: stack.enter_context(backends.create(args.backend, m, device="cpu")[0]) for m in models}
        rows = frame_costs(runners, photo, args.runs, sizes)
    first = {r["size"]: r for r in rows if r["model"] == models[0]}
    md = [f"# Frame rate with the stabiliser: {args.name}", "",
          f"`python benchmarks/frame_speed.py --model {args.model} --backend {args.backend} --sizes {args.sizes} --runs {args.runs} --name {args.name}`: "
          f"median ms of the whole frame ({args.backend}) and of the stabiliser, the models taking turns frame by frame.", "",
          f"| model | frame | model frame ms | stabiliser ms | fps | frame time / {models[0]}'s |", "| --- | --- | --- | --- | --- | --- |"]
    md += [f"| {r['model']} | {r['size']} | {r['frame_ms']:.1f} | {r['stabiliser_ms']:.1f} | {r['fps']:.1f} | "
           f"{(r['frame_ms'] + r['stabiliser_ms']) / (first[r['size']]['frame_ms'] + first[r['size']]['stabiliser_ms']):.2f}x |" for r in rows]
    write_report(RESULTS / f"frame-speed-{args.name}", {"models": models, "backend": args.backend, "runs": args.runs, "rows": rows}, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()

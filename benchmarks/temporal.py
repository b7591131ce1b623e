"""Flicker: how much a model's colour changes from frame to frame where the scene does not.

Clips are rendered from paired images of ../shared/data: a camera path (a pan, a slow zoom, a
small shake) is applied identically to the NIR and the RGB photograph, and the NIR gets the
sensor noise of a night camera at high gain (models/augment.py), fresh in every frame. The
model colours the NIR clip frame by frame. Flicker is the warping error of consecutive output
frames: optical flow computed on the NIR input (OpenCV's DIS), frame t warped onto frame t+1,
pixels that fail the forward-backward consistency check (occlusions, borders) masked out, mean
absolute difference in 8-bit RGB. The same measure on the rendered RGB clip is the flicker a
perfect colorizer would have; the ratio is the figure to compare.

    python benchmarks/temporal.py --model default    # writes benchmarks/results/temporal-<model>.{json,md}
    python benchmarks/temporal.py --model X.pt --backend torch --name trial   # temporal-trial.{json,md}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import time

import cv2
import numpy as np

from nircolor.models.augment import noise
from nircolor.models.metrics import psnr
from nircolor.models.pairs import find_pairs, read_nir, read_rgb
from nircolor.runtime import backends
from nircolor.runtime.stabilise import TemporalStabiliser

from frame_speed import frame_costs
from harness import DATA, RESULTS, write_markdown, write_report

VIEW = (320, 240)  # width, height of the rendered clip
PATHS = ("pan", "zoom", "shake")


def camera(path: str, t: float, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2x3 affine taking the photograph to the view at time t in [0, 1]."""
    w, h = size
    scale = VIEW[0] / (0.6 * w)  # the view shows 60 % of the photograph's width
    cx, cy = w / 2, h / 2
    if path == "pan":
        cx = w * (0.35 + 0.3 * t)
    elif path == "zoom":
        scale *= 1.0 + 0.25 * t
    else:  # a hand-held shake of a few pixels
        cx, cy = cx + rng.normal(0, 2.0), cy + rng.normal(0, 2.0)
    return np.array([[scale, 0, VIEW[0] / 2 - scale * cx], [0, scale, VIEW[1] / 2 - scale * cy]], np.float32)


def render(nir: np.ndarray, rgb: np.ndarray, path: str, frames: int, seed: int,
           clean: list[np.ndarray] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(noisy NIR views, RGB views) along the camera path; `clean`, when given, receives the NIR
    views before the noise (benchmarks/flicker_paths.py feeds them to parts of the network)."""
    rng = np.random.default_rng(seed)
    size = (nir.shape[1], nir.shape[0])
    nirs, rgbs = [], []
    for i in range(frames):
        m = camera(path, i / max(1, frames - 1), size, rng)
        view_nir = cv2.warpAffine(nir, m, VIEW, flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR)
        nirs.append(noise(view_nir, gain=4.0, read_sigma=2.0, rng=rng))
        if clean is not None:
            clean.append(view_nir)
        rgbs.append(cv2.warpAffine(rgb, m, VIEW, flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR))
    return nirs, rgbs


def clip_photographs(pairs: list, count: int) -> list:
    """The photographs clips are rendered from: `count` spread evenly over the sorted pairs (so over the categories)."""
    return pairs[:: max(1, len(pairs) // count)][:count]


def warping_error(frames: list[np.ndarray], nirs: list[np.ndarray], flow_engine) -> float:
    """Mean over consecutive pairs of |frame[t+1] - frame[t] warped by the NIR flow|, on pixels
    whose forward and backward flows agree within 1 px."""
    errors = []
    grid = np.stack(np.meshgrid(np.arange(VIEW[0]), np.arange(VIEW[1])), axis=-1).astype(np.float32)
    for t in range(len(frames) - 1):
        back = flow_engine.calc(nirs[t + 1], nirs[t], None)  # where each pixel of t+1 was in t
        fwd = flow_engine.calc(nirs[t], nirs[t + 1], None)
        source = grid + back
        warped = cv2.remap(frames[t], source[..., 0], source[..., 1], cv2.INTER_LINEAR)
        round_trip = back + cv2.remap(fwd, source[..., 0], source[..., 1], cv2.INTER_LINEAR)
        inside = (source[..., 0] >= 0) & (source[..., 0] <= VIEW[0] - 1) & (source[..., 1] >= 0) & (source[..., 1] <= VIEW[1] - 1)
        valid = inside & (np.linalg.norm(round_trip, axis=-1) < 1.0)
        diff = np.abs(frames[t + 1].astype(np.float32) - warped.astype(np.float32)).mean(axis=-1)
        errors.append(float(diff[valid].mean()))
    return float(np.mean(errors))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--pairs", type=int, default=6, help="photographs to render clips from (spread over the categories)")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--weight", type=float, default=TemporalStabiliser.weight, help="the stabiliser's share of the current frame")
    ap.add_argument("--name", help="results go to temporal-NAME.{json,md} (default: the model's name), so a trial does not overwrite the default's")
    args = ap.parse_args()
    pairs = find_pairs(args.data)
    chosen = clip_photographs(pairs, args.pairs)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    runner, _ = backends.create(args.backend, args.model, device="cpu")
    rows = []
    with runner:
        for k, paths in enumerate(chosen):
            nir, rgb = read_nir(paths.nir), read_rgb(paths.rgb)
            for path in PATHS:
                nirs, rgbs = render(nir, rgb, path, args.frames, seed=k)
                outputs = [runner.infer(f[None, None])[0] for f in nirs]
                stabiliser = TemporalStabiliser(weight=args.weight)
                timed = []
                stable = []
                for f, o in zip(nirs, outputs):
                    t = time.perf_counter()
                    stable.append(stabiliser(f, o))
                    timed.append(1000 * (time.perf_counter() - t))
                out_err, rgb_err = warping_error(outputs, nirs, flow), warping_error(rgbs, nirs, flow)
                stable_err = warping_error(stable, nirs, flow)
                output_psnr = [psnr(o, r) for o, r in zip(outputs, rgbs)]
                psnr_loss = float(np.mean([p - psnr(s, r) for p, s, r in zip(output_psnr, stable, rgbs)]))
                rows.append({"pair": paths.key, "path": path, "output_flicker": out_err, "rgb_flicker": rgb_err, "ratio": out_err / rgb_err,
                             "stabilised_flicker": stable_err, "stabilised_ratio": stable_err / rgb_err,
                             "output_psnr_db": float(np.mean(output_psnr)),
                             "stabiliser_psnr_loss_db": psnr_loss, "stabiliser_ms": float(np.median(timed[1:]))})
                print(f"{paths.key} {path}: output {out_err:.2f}, stabilised {stable_err:.2f}, RGB {rgb_err:.2f}, "
                      f"output PSNR {np.mean(output_psnr):.2f} dB, stabiliser's change {-psnr_loss:+.2f} dB")
        costs = frame_costs({args.model: runner}, read_nir(chosen[0].nir), runs=20)
    ratio = float(np.mean([r["output_flicker"] for r in rows]) / np.mean([r["rgb_flicker"] for r in rows]))
    stable_ratio = float(np.mean([r["stabilised_flicker"] for r in rows]) / np.mean([r["rgb_flicker"] for r in rows]))
    report = {"model": args.model, "backend": args.backend, "frames": args.frames, "view": list(VIEW), "rows": rows,
              "mean_output_flicker": float(np.mean([r["output_flicker"] for r in rows])),
              "mean_rgb_flicker": float(np.mean([r["rgb_flicker"] for r in rows])), "ratio_of_means": ratio,
              "stabilised_ratio_of_means": stable_ratio, "output_psnr_db": float(np.mean([r["output_psnr_db"] for r in rows])),
              "stabiliser_psnr_loss_db": float(np.mean([r["stabiliser_psnr_loss_db"] for r in rows])),
              "stabiliser_ms_320x240": float(np.median([r["stabiliser_ms"] for r in rows])), "cost": costs}
    name = args.name or args.model.replace("/", "_")
    write_report(RESULTS / f"temporal-{name}.json", report)
    command = f"python benchmarks/temporal.py --model {args.model}" + (f" --backend {args.backend}" if args.backend != "onnxruntime" else "") \
        + (f" --name {args.name}" if args.name else "")
    md = [f"# Flicker: {args.model}", "", f"`{command}`: {len(rows)} clips of {args.frames} frames at "
          f"{VIEW[0]}x{VIEW[1]} (pan, zoom, shake over {len(chosen)} photographs, night-camera noise on the NIR); warping error of "
          "consecutive frames along the NIR's optical flow, occlusions masked, 8-bit RGB units.", "",
          "| clip | camera | output | stabilised | RGB clip | ratio | stabilised ratio | output PSNR dB | stabiliser's PSNR change dB |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    md += [f"| {r['pair']} | {r['path']} | {r['output_flicker']:.2f} | {r['stabilised_flicker']:.2f} | {r['rgb_flicker']:.2f} | "
           f"{r['ratio']:.2f} | {r['stabilised_ratio']:.2f} | {r['output_psnr_db']:.2f} | {-r['stabiliser_psnr_loss_db']:+.2f} |" for r in rows]
    md += ["", f"Mean output flicker {report['mean_output_flicker']:.2f} against {report['mean_rgb_flicker']:.2f} for the RGB clip: "
               f"{ratio:.2f}x what a perfect colorizer would show, PSNR of the noisy clips' colour {report['output_psnr_db']:.2f} dB; with the stabiliser (runtime/stabilise.py) {stable_ratio:.2f}x, "
               f"per-frame PSNR {-report['stabiliser_psnr_loss_db']:+.2f} dB, {report['stabiliser_ms_320x240']:.1f} ms a frame."]
    md += ["", "| frame | model frame ms (median) | stabiliser ms (median) | added | fps, model then stabiliser |",
           "| --- | --- | --- | --- | --- |"]
    md += [f"| {c['size']} | {c['frame_ms']:.1f} | {c['stabiliser_ms']:.1f} | {c['stabiliser_ms'] / c['frame_ms']:.0%} | "
           f"{1000 / (c['frame_ms'] + c['stabiliser_ms']):.0f} |" for c in costs]
    write_markdown(RESULTS / f"temporal-{name}.md", md)
    print("\n".join(md[-1:]))


if __name__ == "__main__":
    main()

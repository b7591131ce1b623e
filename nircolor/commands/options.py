"""Options and argument types shared by several commands, with choices read from the registries."""

from __future__ import annotations

import argparse

from nircolor.runtime.backends import BACKENDS

DEFAULT_DATA = "../shared/data/epfl-rgbnir"
BACKEND_CHOICES = ("auto", *BACKENDS)


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="shipped model, checkpoint (.pt), ONNX (.onnx) or TensorRT plan (.plan/.engine with its .json sidecar)")
    add_backend_option(p)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--fp16", action="store_true", help="half precision (TensorRT, ONNX FP16 export, or torch on CUDA)")
    p.add_argument("--int8", action="store_true", help="ONNX Runtime: the model's INT8 graph (quantized and checked once, then "
                   "cached; or pass an ONNX file from 'nircolor export --int8'). For TensorRT pass a plan from 'nircolor build --int8'")
    p.add_argument("--layout", default="color", choices=["color", "side-by-side"], help="colour only, or NIR | colour")
    p.add_argument("--batch", type=int, help="frames per inference call, offline only (default: 2 offline, which lets decoding "
                   "and encoding overlap inference on a small CPU; 1 live)")
    p.add_argument("--codec", default="h264", choices=["h264", "hevc"], help="video file outputs")
    p.add_argument("--infer-scale", type=fraction,
                   help="run the model at this fraction of the frame size and restore full resolution guided by the NIR frame "
                        "(e.g. 0.5; default: the scale the model was trained at, from its metadata; 1 for full size)")
    p.add_argument("--stabilise", action=argparse.BooleanOptionalAction,
                   help="temporal stabilisation: blend each frame's colour with the last frames' along the NIR's optical flow "
                        "where the flow is trusted (less shimmer from sensor noise; benchmarks/temporal.py). Default: on for "
                        "video, cameras, streams and image folders or globs, off for a single image; --no-stabilise shows each frame as the exported graph "
                        "colours it")
    p.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    p.add_argument("--input-bits", type=int, choices=range(8, 17), metavar="{8..16}",
                   help="significant bits of 16-bit input images (default: 10 or 12 when the first image's values fit, else 16)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist (default: refuse)")
    p.add_argument("--stats-json", help="write frame counts, skips and per-stage latency here")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-auth", action="store_true",
                   help="serve webrtc:// and rtsp://@ outputs to anyone who can reach them (default: viewers need the access token "
                        "printed in the URL; give one with ?token= in the output or NIRCOLOR_STREAM_TOKEN)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of frames")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not a fraction of the frame size in (0, 1]; e.g. 0.5, or 1 for full size")
    return value


def add_backend_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", choices=BACKEND_CHOICES, help="auto (prints which and why) or one runner")

"""Make the bundled sample clip: a few seconds of NIR video panning and zooming over the shipped
sample pairs' NIR images (EPFL RGB-NIR validation pairs, never trained on).

    python scripts/make_sample_clip.py            # writes runtime/samples/nir-sample.mp4
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from nircolor.models import zoo
from nircolor.models.data import find_pairs, read_nir

ROOT = Path(__file__).resolve().parents[1]


def frames(images: list[np.ndarray], size: tuple[int, int], per_image: int):
    """A slow pan-and-zoom over each image, `per_image` frames each."""
    w, h = size
    for img in images:
        ih, iw = img.shape
        for t in np.linspace(0.0, 1.0, per_image):
            zoom = 1.0 + 0.25 * t
            cw, ch = min(iw, int(iw / zoom)), min(ih, int(iw / zoom * h / w))
            x = int((iw - cw) * t)
            y = int((ih - ch) * 0.5)
            yield cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "runtime" / "samples" / "nir-sample.mp4"))
    ap.add_argument("--size", default="480x320", help="WxH")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--seconds-per-image", type=float, default=1.0)
    ap.add_argument("--images", type=int, default=5)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    pairs = find_pairs(zoo.SAMPLES_DIR)[: args.images]
    images = [read_nir(p.nir) for p in pairs]
    with av.open(args.out, mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(args.fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "20", "preset": "slow"}
        out.metadata["comment"] = ("NIR frames from the EPFL RGB-NIR Scene Dataset (M. Brown and S. Susstrunk, "
                                   "Multi-spectral SIFT for scene category recognition, CVPR 2011): " + ", ".join(p.key for p in pairs))
        for i, grey in enumerate(frames(images, (w, h), int(args.fps * args.seconds_per_image))):
            frame = av.VideoFrame.from_ndarray(grey, format="gray")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

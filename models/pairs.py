"""Paired NIR/RGB image folders, found and read: `<category>/<id>_nir.*` beside
`<category>/<id>_rgb.*`, the layout of ../shared/data/epfl-rgbnir. numpy and OpenCV only, so an
engine build's accuracy guard reads sample frames without PyTorch; training's tensors and crops
are in data.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .nir import to_nir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


class DatasetError(ValueError):
    """A data folder or pair that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class PairPaths:
    category: str
    pair_id: str
    nir: Path
    rgb: Path

    @property
    def key(self) -> str:
        return f"{self.category}/{self.pair_id}"


@dataclass
class Pair:
    paths: PairPaths
    nir: np.ndarray  # HxW uint8
    rgb: np.ndarray  # HxWx3 uint8, RGB order


def find_pairs(root: str | Path) -> list[PairPaths]:
    """All `<id>_nir.*` files under `root` (one level of category folders, or flat) with
    their `<id>_rgb.*` partner. A NIR file without a partner is an error, not a skip."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"data folder {root} does not exist; pass --data with a folder of <id>_nir.* / <id>_rgb.* pairs")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; pass --data with a folder of <id>_nir.* / <id>_rgb.* pairs")
    pairs = []
    for nir in sorted(p for p in root.rglob("*_nir.*") if p.suffix.lower() in IMAGE_SUFFIXES):
        stem = nir.name[: nir.name.rfind("_nir.")]
        partners = [p for p in nir.parent.glob(f"{stem}_rgb.*") if p.suffix.lower() in IMAGE_SUFFIXES]
        if not partners:
            raise DatasetError(f"{nir} has no RGB partner {nir.parent / (stem + '_rgb.*')}; add it or remove the NIR file")
        category = nir.parent.relative_to(root).as_posix() if nir.parent != root else "."
        pairs.append(PairPaths(category, stem, nir, sorted(partners)[0]))
    if not pairs:
        raise DatasetError(f"no <id>_nir.* / <id>_rgb.* pairs found under {root}; check the path and the file names")
    return pairs


def read_nir(path: str | Path) -> np.ndarray:
    """Read a NIR image as HxW uint8 (see to_nir)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"{path} is not a readable image; replace or remove it")
    try:
        return to_nir(img)
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}; expected an 8- or 16-bit image") from None


def read_rgb(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"{path} is not a readable image; replace or remove it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

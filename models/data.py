"""Paired NIR/RGB image folders: `<category>/<id>_nir.*` beside `<category>/<id>_rgb.*`.

The layout of ../shared/data/epfl-rgbnir. Pairs are decoded once and kept in memory as uint8
(the whole EPFL set is about 0.5 GB), so training draws crops without touching the disk.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .upsample import working_scale

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


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


def to_nir(frame: np.ndarray) -> np.ndarray:
    """Any image or video frame -> HxW uint8 NIR: colour (BGR) reduced to grey with BT.601 luma,
    as OpenCV reads single-channel images; 16-bit scaled to 8; float taken as [0, 1]. The one
    place that says what a NIR input is, for training data and live frames alike."""
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise ValueError(f"empty or missing frame ({type(frame).__name__} of size {getattr(frame, 'size', 0)})")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        frame = cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_BGR2GRAY)
    if frame.ndim != 2:
        raise ValueError(f"frame of shape {frame.shape} is neither grey (HxW) nor colour (HxWx3)")
    if frame.dtype == np.uint16:
        frame = ((frame.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif frame.dtype in (np.float32, np.float64):
        if not np.isfinite(frame).all():
            raise ValueError("frame holds NaN or infinite values")
        frame = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    if frame.dtype != np.uint8:
        raise ValueError(f"frame of pixel type {frame.dtype} is not 8-bit, 16-bit or float in [0, 1]")
    return frame


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


def load_pair(paths: PairPaths, scale: float = 1.0, max_side: int | None = None) -> Pair:
    """Read a registered pair, resized by `scale`, or with `max_side` so its long side is at most that."""
    nir, rgb = read_nir(paths.nir), read_rgb(paths.rgb)
    if nir.shape[:2] != rgb.shape[:2]:
        raise DatasetError(
            f"{paths.nir} is {nir.shape[1]}x{nir.shape[0]} but {paths.rgb} is {rgb.shape[1]}x{rgb.shape[0]}; "
            "a pair must be registered at the same size"
        )
    if max_side:
        scale = working_scale(*nir.shape[:2], max_side)
    if scale != 1.0:
        size = (max(1, round(nir.shape[1] * scale)), max(1, round(nir.shape[0] * scale)))
        nir = cv2.resize(nir, size, interpolation=cv2.INTER_AREA)
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return Pair(paths, nir, rgb)


def load_pairs(paths: list[PairPaths], scale: float = 1.0, max_side: int | None = None) -> list[Pair]:
    return [load_pair(p, scale, max_side) for p in paths]


def split_pairs(pairs: list[PairPaths], val_keys: set[str]) -> tuple[list[PairPaths], list[PairPaths]]:
    """Split by a fixed set of `category/id` keys; every key must exist."""
    known = {p.key for p in pairs}
    missing = sorted(val_keys - known)
    if missing:
        raise DatasetError(f"validation split names pairs that are not in the data: {', '.join(missing[:5])}")
    return [p for p in pairs if p.key not in val_keys], [p for p in pairs if p.key in val_keys]


def default_val_keys(pairs: list[PairPaths], fraction: float = 0.125) -> list[str]:
    """A deterministic, per-category stratified split: a stable hash of each key orders the
    pairs of a category, and the first `fraction` of them (at least one) are held out."""
    by_cat: dict[str, list[PairPaths]] = {}
    for p in pairs:
        by_cat.setdefault(p.category, []).append(p)
    keys = []
    for cat, items in sorted(by_cat.items()):
        ranked = sorted(items, key=lambda p: hashlib.sha256(p.key.encode()).hexdigest())
        keys += [p.key for p in ranked[: max(1, round(len(items) * fraction))]]
    return sorted(keys)


def read_split(path: str | Path) -> set[str]:
    lines = Path(path).read_text().splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def edge_map(rgb: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """Binary Canny edges of each RGB channel, HxWx3 float32 in {0, 1}: SNet's EdgeNet target."""
    return np.stack([cv2.Canny(rgb[:, :, c], low, high) for c in range(3)], axis=2).astype(np.float32) / 255.0


def nir_to_tensor(nir: np.ndarray) -> torch.Tensor:
    """HxW uint8 -> 1x1xHxW float in [0, 1] (the networks' input range)."""
    return torch.from_numpy(nir).float().div_(255.0)[None, None]


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xHxW float in [-1, 1] (the tanh output range)."""
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(127.5).sub_(1.0)[None]


def tensor_to_rgb(t: torch.Tensor) -> np.ndarray:
    """1x3xHxW or 3xHxW in [-1, 1] -> HxWx3 uint8."""
    if t.ndim == 4:
        t = t[0]
    return ((t.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def _reflect_pad(img: np.ndarray, size: int) -> np.ndarray:
    dy, dx = max(0, size - img.shape[0]), max(0, size - img.shape[1])
    if not dy and not dx:
        return img
    return cv2.copyMakeBorder(img, dy // 2, dy - dy // 2, dx // 2, dx - dx // 2, cv2.BORDER_REFLECT_101)


def _pad_to(pair: Pair, size: int) -> Pair:
    return Pair(pair.paths, _reflect_pad(pair.nir, size), _reflect_pad(pair.rgb, size))


class RandomCrops(torch.utils.data.IterableDataset):
    """Endless random crops with flips from in-memory pairs; yields (nir, rgb, edges)."""

    def __init__(self, pairs: list[Pair], crop: int, seed: int):
        tiny = [p.paths.key for p in pairs if 2 * min(p.nir.shape) <= crop]
        if tiny:
            raise DatasetError(f"pairs not larger than half the {crop}px crop: {', '.join(tiny[:5])}; use a smaller --crop")
        self.crop = crop
        self.seed = seed
        # A side shorter than the crop (portrait pairs at a working size or --data-scale) is mirrored
        # out to it: NIR, RGB and edges alike, so the padded pair is still a registered scene. The
        # edges are found once, on the unpadded RGB, so the mirror seam adds none.
        self.pairs = [_pad_to(p, crop) for p in pairs]
        self.edges = [_reflect_pad(edge_map(p.rgb), crop) for p in pairs]
        self.padded = [p.paths.key for p in pairs if min(p.nir.shape) < crop]

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed + (info.id if info else 0))
        while True:
            i = rng.randrange(len(self.pairs))
            pair, edges = self.pairs[i], self.edges[i]
            h, w = pair.nir.shape
            y, x = rng.randrange(h - self.crop + 1), rng.randrange(w - self.crop + 1)
            sl = (slice(y, y + self.crop), slice(x, x + self.crop))
            nir, rgb, edg = pair.nir[sl], pair.rgb[sl], edges[sl]
            if rng.random() < 0.5:
                nir, rgb, edg = nir[:, ::-1], rgb[:, ::-1], edg[:, ::-1]
            yield (
                nir_to_tensor(np.ascontiguousarray(nir))[0],
                rgb_to_tensor(np.ascontiguousarray(rgb))[0],
                torch.from_numpy(np.ascontiguousarray(edg)).permute(2, 0, 1),
            )

"""Paired NIR/RGB image folders: `<category>/<id>_nir.*` beside `<category>/<id>_rgb.*`.

The layout of ../shared/data/epfl-rgbnir. Pairs are decoded once and kept in memory as uint8
(the whole EPFL set is about 0.5 GB), so training draws crops without touching the disk.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from nircolor.runtime import frames_torch

from .checkpoint import INPUT_RANGE, OUTPUT_RANGE
from .pairs import DatasetError, Pair, PairPaths, find_pairs, read_nir, read_rgb  # noqa: F401  (re-exported)
from .upsample import working_scale
from .zoo import CV_FOLDS  # the fold file ships with the models

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
    return _resized(Pair(paths, nir, rgb), (max(1, round(nir.shape[1] * scale)), max(1, round(nir.shape[0] * scale))))


def _resized(pair: Pair, size: tuple[int, int], interpolation: int = cv2.INTER_AREA) -> Pair:
    """The pair with NIR and RGB resized alike to `size` (width, height); the same pair if it has that size."""
    if size == (pair.nir.shape[1], pair.nir.shape[0]):
        return pair
    return Pair(pair.paths, cv2.resize(pair.nir, size, interpolation=interpolation), cv2.resize(pair.rgb, size, interpolation=interpolation))


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


def cv_folds(path: str | Path = CV_FOLDS) -> list[list[str]]:
    """The fixed scene-level folds (scripts/make_cv_folds.py): a list of key lists."""
    return json.loads(Path(path).read_text())["folds"]


def scene_closure(keys: set[str], path: str | Path = CV_FOLDS) -> set[str]:
    """`keys` plus every pair that shows the same place as one of them (the scene groups of
    the fold file): what must stay out of training when `keys` are validated on."""
    if not keys or not Path(path).exists():
        return set(keys)
    closed = set(keys)
    for group in json.loads(Path(path).read_text())["groups"]:
        if closed & set(group):
            closed |= set(group)
    return closed


def read_split(path: str | Path) -> set[str]:
    lines = Path(path).read_text().splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def edge_map(rgb: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """Binary Canny edges of each RGB channel, HxWx3 float32 in {0, 1}: SNet's EdgeNet target."""
    return np.stack([cv2.Canny(rgb[:, :, c], low, high) for c in range(3)], axis=2).astype(np.float32) / 255.0


def nir_to_tensor(nir: np.ndarray) -> torch.Tensor:
    """HxW uint8 -> 1x1xHxW float on the networks' input range."""
    return frames_torch.nir_to_network(torch.from_numpy(nir), INPUT_RANGE)[None, None]


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xHxW float on the networks' output range (the training target)."""
    return frames_torch.rgb_to_network(torch.from_numpy(rgb).permute(2, 0, 1), OUTPUT_RANGE)[None]


def tensor_to_rgb(t: torch.Tensor) -> np.ndarray:
    """1x3xHxW or 3xHxW on the output range -> HxWx3 uint8."""
    t = t.detach() if t.ndim == 4 else t.detach()[None]
    return frames_torch.network_to_rgb(t, OUTPUT_RANGE)[0].cpu().numpy()


def _reflect_pad(img: np.ndarray, height: int, width: int) -> np.ndarray:
    dy, dx = max(0, height - img.shape[0]), max(0, width - img.shape[1])
    if not dy and not dx:
        return img
    return cv2.copyMakeBorder(img, dy // 2, dy - dy // 2, dx // 2, dx - dx // 2, cv2.BORDER_REFLECT_101)


def _pad_to(pair: Pair, height: int, width: int) -> Pair:
    return Pair(pair.paths, _reflect_pad(pair.nir, height, width), _reflect_pad(pair.rgb, height, width))


class RandomCrops(torch.utils.data.IterableDataset):
    """Endless random crops with flips from in-memory pairs; yields (nir, rgb, edges).

    Crops are `crop` pixels high and `crop_width` wide (default: square). `extra` pairs are
    drawn for a fraction `extra_fraction` of the crops (so a large set of small images does not
    crowd out the full-resolution scenes); `augment(nir, rng)`, if given, degrades each NIR crop
    (the colour target is left as it is). `zoom` > 1: each crop is a window 1 to `zoom` times smaller,
    enlarged to the crop size (NIR, colour and edges alike), so the scenes are also seen closer up."""

    def __init__(self, pairs: list[Pair], crop: int, seed: int, extra: list[Pair] = (), extra_fraction: float = 0.0,
                 augment: Callable[[np.ndarray, random.Random], np.ndarray] | None = None, edges: bool = True,
                 crop_width: int | None = None, zoom: float = 1.0):
        width = crop_width or crop
        if crop < 1 or width < 1:
            raise DatasetError(f"crop sizes must be positive, got {crop}x{width}")
        if not 1.0 <= zoom <= 4.0:
            raise DatasetError(f"zoom {zoom} is outside [1, 4]: it is the largest magnification of a crop (1: none)")
        self.zoom = zoom
        # A pair is mirrored out to the crop (below) only while the mirror adds less than twice the
        # pair itself: a narrow portrait frame fits a whole-frame 256 x 384 crop, a 72-px one a 512 one not.
        tiny = [p.paths.key for p in [*pairs, *extra] if 3 * p.nir.shape[0] <= crop or 3 * p.nir.shape[1] <= width]
        if tiny:
            raise DatasetError(f"pairs not larger than a third of the {crop}x{width}px crop: {', '.join(tiny[:5])}; use a smaller --crop or --crop-width")
        if not 0 <= extra_fraction < 1 or (extra_fraction > 0 and not extra):
            raise DatasetError(f"extra fraction {extra_fraction} needs extra pairs and a value in [0, 1)")
        self.crop, self.crop_width = crop, width
        self.seed = seed
        self.augment = augment
        self.extra_fraction = extra_fraction if extra else 0.0
        # A side shorter than the crop (portrait pairs at a working size or --data-scale) is mirrored
        # out to it: NIR, RGB and edges alike, so the padded pair is still a registered scene. The
        # edges are found once, on the unpadded RGB, so the mirror seam adds none.
        # Edge maps only for objectives that use them (SNet's EdgeNet): finding them costs seconds.
        self.pools = [([_pad_to(p, crop, width) for p in group], [_reflect_pad(edge_map(p.rgb), crop, width) if edges else None for p in group])
                      for group in (pairs, extra)]
        self.padded = [p.paths.key for p in [*pairs, *extra] if p.nir.shape[0] < crop or p.nir.shape[1] < width]
        self._no_edges = np.zeros((crop, width, 0), np.float32)

    @property
    def extra_pairs(self) -> int:
        return len(self.pools[1][0])

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed + (info.id if info else 0))
        while True:
            pool, edge_pool = self.pools[1 if rng.random() < self.extra_fraction else 0]
            i = rng.randrange(len(pool))
            pair, edges = pool[i], edge_pool[i]
            h, w = pair.nir.shape
            # Log-uniform magnification: as many crops between 1x and 1.2x as between 1.2x and 1.44x.
            # No draw at zoom 1, so the recipes before --zoom get the very crops they had.
            scale = self.zoom ** rng.random() if self.zoom > 1 else 1.0
            ch, cw = round(self.crop / scale), round(self.crop_width / scale)
            y, x = rng.randrange(h - ch + 1), rng.randrange(w - cw + 1)
            sl = (slice(y, y + ch), slice(x, x + cw))
            nir, rgb = pair.nir[sl], pair.rgb[sl]
            edg = edges[sl] if edges is not None else self._no_edges
            if (ch, cw) != (self.crop, self.crop_width):
                size = (self.crop_width, self.crop)
                nir, rgb = cv2.resize(nir, size, interpolation=cv2.INTER_LINEAR), cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
                if edges is not None:
                    edg = cv2.resize(edg, size, interpolation=cv2.INTER_NEAREST).reshape(self.crop, self.crop_width, -1)
            if rng.random() < 0.5:
                nir, rgb, edg = nir[:, ::-1], rgb[:, ::-1], edg[:, ::-1]
            nir = np.ascontiguousarray(nir)
            if self.augment is not None:
                nir = self.augment(nir, rng)
            yield (
                nir_to_tensor(nir)[0],
                rgb_to_tensor(np.ascontiguousarray(rgb))[0],
                torch.from_numpy(np.ascontiguousarray(edg)).permute(2, 0, 1),
            )


# Pairs of the extra folder (../shared/data/epfl-extra) come with a manifest that names the
# scene each one shows in the main folder's keys; a pair is held back when any of them is
# validated on, so neighbouring shots of one place never straddle training and validation.
EXTRA_MANIFEST = "manifest.json"


def extra_scene_keys(record: dict) -> set[str]:
    """The main-folder keys whose scene an extra pair shows or overlaps."""
    keys = {record.get("epfl_id"), record.get("same_scene_as"), *record.get("also_overlaps", [])}
    return {k for k in keys if k}


def load_extra_pairs(root: str | Path, held_out: set[str], max_side: int | None = None) -> tuple[list[Pair], int]:
    """The extra pairs whose scenes are not in `held_out`, at the working size. Whole frames
    that were squeezed to 256x256 get their aspect ratio back (from the manifest's scale_x /
    scale_y, else the dataset's usual 3:2), so objects keep the shapes they have at run time.
    Returns the pairs and how many were held back."""
    root = Path(root)
    manifest = root / EXTRA_MANIFEST
    if not manifest.exists():
        raise DatasetError(f"{manifest} does not exist; --extra-data needs a folder with a manifest.json that names each pair's scene")
    by_name = {r["name"]: r for r in json.loads(manifest.read_text())}
    pairs, skipped = [], 0
    for paths in find_pairs(root):
        record = by_name.get(paths.pair_id)
        if record is None:
            raise DatasetError(f"{paths.nir} is not in {manifest}; without its scene it cannot be kept out of validation")
        if extra_scene_keys(record) & held_out:
            skipped += 1
            continue
        pair = load_pair(paths)
        if record.get("kind") == "epfl-frame-256":
            match = record.get("match") or {}
            aspect = match["scale_y"] / match["scale_x"] if match.get("scale_x") else 1.5
            h = pair.nir.shape[0]
            pair = _resized(pair, (round(h * aspect), h), cv2.INTER_CUBIC)
        scale = working_scale(*pair.nir.shape, max_side)
        pairs.append(_resized(pair, (round(pair.nir.shape[1] * scale), round(pair.nir.shape[0] * scale))))
    return pairs, skipped

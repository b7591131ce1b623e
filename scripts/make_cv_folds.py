"""Make the fixed scene-level 5-fold split of ../shared/data/epfl-rgbnir.

Neighbouring shots of one place (often consecutive ids) must share a fold, or a model is scored
on a scene it trained on. Two pairs are one scene when either
- their NIR images match: SIFT features, Lowe's ratio test, a RANSAC homography with at least
  MIN_INLIERS inliers (a second shot of the same place), or
- ../shared/data/epfl-extra/manifest.json says they overlap (`also_overlaps`).
Scenes are the connected groups of that relation. Groups are dealt to folds largest first, each to
the fold that is furthest below its share of the group's category (ties: the smallest fold), so
every fold holds about a fifth of every category.

    python scripts/make_cv_folds.py ../shared/data/epfl-rgbnir --extra ../shared/data/epfl-extra

Writes models/splits/epfl-rgbnir-cv5.json: {"folds": [[keys of fold 0], ...], "groups": [...],
"matches": [...]} (the evidence for each link, so the grouping can be audited).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from nircolor.models.data import find_pairs, read_nir

MIN_INLIERS = 40
RATIO = 0.75
ROOT = Path(__file__).resolve().parents[1]


def features(path: Path, sift: cv2.SIFT, long_side: int = 640):
    nir = read_nir(path)
    scale = long_side / max(nir.shape)
    nir = cv2.resize(nir, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return sift.detectAndCompute(nir, None)


def inliers(a, b, matcher: cv2.BFMatcher) -> int:
    (ka, da), (kb, db) = a, b
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return 0
    good = [m for m, n in (p for p in matcher.knnMatch(da, db, k=2) if len(p) == 2) if m.distance < RATIO * n.distance]
    if len(good) < 8:
        return 0
    src = np.float32([ka[m.queryIdx].pt for m in good])
    dst = np.float32([kb[m.trainIdx].pt for m in good])
    _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
    return 0 if mask is None else int(mask.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--extra", type=Path, help="epfl-extra folder whose manifest lists overlaps")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "splits" / "epfl-rgbnir-cv5.json")
    args = ap.parse_args()

    pairs = find_pairs(args.data)
    keys = [p.key for p in pairs]
    sift, matcher = cv2.SIFT_create(nfeatures=1500), cv2.BFMatcher(cv2.NORM_L2)
    feats = {p.key: features(p.nir, sift) for p in pairs}
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    links = []
    for a, b in itertools.combinations(keys, 2):
        n = inliers(feats[a], feats[b], matcher)
        if n >= MIN_INLIERS:
            links.append({"a": a, "b": b, "why": f"sift-homography {n} inliers"})
    if args.extra:
        for rec in json.loads((args.extra / "manifest.json").read_text()):
            related = [k for k in [rec.get("same_scene_as"), *rec.get("also_overlaps", [])] if k in parent]
            for a, b in itertools.combinations(sorted(set(related)), 2):
                links.append({"a": a, "b": b, "why": f"epfl-extra manifest ({rec['name']})"})
    for link in links:
        parent[find(link["a"])] = find(link["b"])

    groups = defaultdict(list)
    for k in keys:
        groups[find(k)].append(k)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    category_total = Counter(k.split("/")[0] for k in keys)
    folds: list[list[str]] = [[] for _ in range(args.folds)]
    for group in ordered:
        cats = Counter(k.split("/")[0] for k in group)

        def deficit(i: int) -> tuple[float, int]:
            have = Counter(k.split("/")[0] for k in folds[i])
            need = sum(category_total[c] / args.folds - have[c] for c in cats)
            return (-need, len(folds[i]))

        folds[min(range(args.folds), key=deficit)].extend(group)
    out = {
        "data": "epfl-rgbnir",
        "method": __doc__.split("\n\n")[1].strip(),
        "folds": [sorted(f) for f in folds],
        "groups": [sorted(g) for g in ordered if len(g) > 1],
        "links": links,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for i, f in enumerate(out["folds"]):
        print(f"fold {i}: {len(f)} pairs", dict(sorted(Counter(k.split('/')[0] for k in f).items())))
    print(f"{len(out['groups'])} multi-pair scenes, largest {max(len(g) for g in ordered)}; {len(links)} links -> {args.out}")


if __name__ == "__main__":
    main()

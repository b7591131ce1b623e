import importlib.util
import json
import shutil
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def load_script(name: str):
    """Import scripts/NAME.py as a module (scripts/ is not a package)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_dataset(tmp_path, fixture_pairs):
    """Six main pairs (the three fixtures under two ids each), five folds over them, and an extra
    folder of 64x64 pairs with a manifest naming their scenes: the shape of ../shared/data."""
    main = tmp_path / "main"
    keys = []
    for nir in sorted(fixture_pairs.rglob("*_nir.jpg")):
        category, stem = nir.parent.name, nir.name.split("_")[0]
        for new_id in (stem, f"9{stem[1:]}"):
            (main / category).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nir, main / category / f"{new_id}_nir.jpg")
            shutil.copyfile(nir.with_name(f"{stem}_rgb.jpg"), main / category / f"{new_id}_rgb.jpg")
            keys.append(f"{category}/{new_id}")
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"folds": [keys[0:2], [keys[2]], [keys[3]], [keys[4]], [keys[5]]], "groups": [[k] for k in keys]}))
    extra = tmp_path / "extra"
    records = []
    for i, key in enumerate(keys[:3]):
        category, pid = key.split("/")
        (extra / category).mkdir(parents=True, exist_ok=True)
        name = f"vcip_{pid}_{i}"
        for kind, flag in (("nir", cv2.IMREAD_GRAYSCALE), ("rgb", cv2.IMREAD_COLOR)):
            image = cv2.resize(cv2.imread(str(main / category / f"{pid}_{kind}.jpg"), flag), (64, 64), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(extra / category / f"{name}_{kind}.png"), image)
        records.append({"name": name, "kind": "vcip-crop", "epfl_id": key})
    (extra / "manifest.json").write_text(json.dumps(records))
    return main, extra, folds, keys

"""scripts/pack_training_data.py: the packed set is read by training as ../shared/data is."""

import json

import numpy as np
import pytest

from nircolor.models.data import find_pairs, load_extra_pairs, load_pairs
from nircolor.models.pairs import read_nir, read_rgb

from .conftest import load_script

pack_module = load_script("pack_training_data")


def test_the_pack_holds_the_same_pairs_folds_and_scenes(tmp_path, tiny_dataset):
    main, extra, folds, keys = tiny_dataset
    manifest = pack_module.pack(tmp_path / "pack", main, extra, max_side=96, folds=folds)
    packed = tmp_path / "pack"
    assert [p.key for p in find_pairs(packed / "epfl-rgbnir")] == [p.key for p in find_pairs(main)] == sorted(keys)
    assert json.loads((packed / "splits" / "epfl-rgbnir-cv5.json").read_text()) == json.loads(folds.read_text())
    assert manifest["pairs"] == {"epfl-rgbnir": 6, "epfl-extra": 3}
    # The main pairs at the packed size, close to the source resized the same way (lossy WebP).
    source = load_pairs(find_pairs(main), max_side=96)
    for ours, theirs in zip(load_pairs(find_pairs(packed / "epfl-rgbnir"), max_side=96), source):
        assert ours.nir.shape == theirs.nir.shape and max(ours.nir.shape) == 96
        assert np.abs(ours.rgb.astype(int) - theirs.rgb).mean() < 6
    # The extra pairs keep their scenes: holding one back works on the pack as on the source.
    held = {keys[0]}
    assert [len(x) for x in load_extra_pairs(packed / "epfl-extra", held)[:1]] == [len(x) for x in load_extra_pairs(extra, held)[:1]]
    assert load_extra_pairs(packed / "epfl-extra", held)[1] == 1
    # The ImageNet weights travel with it.
    assert (packed / pack_module.IMAGENET_FILE).stat().st_size > 1_000_000


def test_packing_is_deterministic_and_damage_is_found(tmp_path, tiny_dataset):
    main, extra, folds, _ = tiny_dataset
    first = pack_module.pack(tmp_path / "a", main, extra, max_side=96, folds=folds)
    second = pack_module.pack(tmp_path / "b", main, extra, max_side=96, folds=folds)
    assert first["files"] == second["files"]
    assert pack_module.verify(tmp_path / "a") == []
    victim = next((tmp_path / "a" / "epfl-rgbnir").rglob("*_rgb.webp"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert pack_module.verify(tmp_path / "a") == [victim.relative_to(tmp_path / "a").as_posix()]


def test_a_pack_is_replaced_only_when_the_new_one_is_whole(tmp_path, tiny_dataset, monkeypatch):
    main, extra, folds, _ = tiny_dataset
    pack_module.pack(tmp_path / "p", main, extra, max_side=96, folds=folds)
    before = (tmp_path / "p" / "MANIFEST.json").read_text()

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pack_module, "_pack_imagenet_weights", broken)
    with pytest.raises(RuntimeError):
        pack_module.pack(tmp_path / "p", main, extra, max_side=64, folds=folds)
    assert (tmp_path / "p" / "MANIFEST.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_webp_pairs_are_read_like_any_other(tmp_path, tiny_dataset):
    main, extra, folds, _ = tiny_dataset
    pack_module.pack(tmp_path / "p", main, None, max_side=96, folds=folds)
    pair = find_pairs(tmp_path / "p" / "epfl-rgbnir")[0]
    assert pair.nir.suffix == pair.rgb.suffix == ".webp"
    assert read_nir(pair.nir).ndim == 2 and read_rgb(pair.rgb).shape[2] == 3

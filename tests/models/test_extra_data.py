import json
import shutil

import cv2
import numpy as np
import pytest

from nircolor.models.data import DatasetError, RandomCrops, load_extra_pairs, load_pairs, find_pairs


@pytest.fixture
def extra_folder(tmp_path, fixture_pairs):
    """Three 'extra' pairs: a crop of a scene, a squeezed whole frame (3:2 squeezed to square)
    and a pair of a scene that overlaps another."""
    root = tmp_path / "extra"
    (root / "country").mkdir(parents=True)
    nir = cv2.imread(str(fixture_pairs / "country" / "0006_nir.jpg"), cv2.IMREAD_GRAYSCALE)
    rgb = cv2.imread(str(fixture_pairs / "country" / "0006_rgb.jpg"))
    square = (64, 64)
    records = []
    for name, kind, keys in (("vcip_a", "vcip-crop", ("country/0006", [])),
                             ("epfl256_b", "epfl-frame-256", ("country/0100", [])),
                             ("vcip_c", "vcip-crop", ("country/0101", ["country/0013"]))):
        cv2.imwrite(str(root / "country" / f"{name}_nir.png"), cv2.resize(nir, square))
        cv2.imwrite(str(root / "country" / f"{name}_rgb.png"), cv2.resize(rgb, square))
        match = {"scale_x": 0.25, "scale_y": 0.375} if kind == "epfl-frame-256" else {}
        records.append({"name": name, "kind": kind, "epfl_id": keys[0], "same_scene_as": keys[0] if keys[0].endswith("06") else None,
                        "also_overlaps": keys[1], "match": match})
    (root / "manifest.json").write_text(json.dumps(records))
    return root


def test_extra_pairs_of_validation_scenes_are_held_back(extra_folder):
    pairs, skipped = load_extra_pairs(extra_folder, held_out={"country/0006", "country/0013"})
    assert [p.paths.pair_id for p in pairs] == ["epfl256_b"] and skipped == 2


def test_squeezed_whole_frames_get_their_aspect_back(extra_folder):
    pairs, _ = load_extra_pairs(extra_folder, held_out=set())
    shapes = {p.paths.pair_id: p.nir.shape for p in pairs}
    assert shapes["epfl256_b"] == (64, 96)  # 0.375 / 0.25 = 1.5 x wider
    assert shapes["vcip_a"] == (64, 64)
    small, _ = load_extra_pairs(extra_folder, held_out=set(), max_side=48)
    assert max(max(p.nir.shape) for p in small) == 48


def test_a_pair_missing_from_the_manifest_is_an_error(extra_folder):
    shutil.copy(extra_folder / "country" / "vcip_a_nir.png", extra_folder / "country" / "stray_nir.png")
    shutil.copy(extra_folder / "country" / "vcip_a_rgb.png", extra_folder / "country" / "stray_rgb.png")
    with pytest.raises(DatasetError, match="stray_nir.png is not in"):
        load_extra_pairs(extra_folder, held_out=set())


def test_crops_draw_extra_pairs_at_their_share(extra_folder, fixture_pairs):
    main = load_pairs(find_pairs(fixture_pairs))
    extra, _ = load_extra_pairs(extra_folder, held_out=set())
    for p in extra:  # mark the extra pairs: their RGB is all white
        p.rgb[:] = 255
    crops = iter(RandomCrops(main, 32, seed=0, extra=extra, extra_fraction=0.25, edges=False))
    white = sum(bool((next(crops)[1] == 1).all()) for _ in range(400))
    assert 70 <= white <= 130
    with pytest.raises(DatasetError, match="extra fraction"):
        RandomCrops(main, 32, seed=0, extra=[], extra_fraction=0.5)


def test_augmentation_changes_the_nir_and_leaves_the_colour(fixture_pairs):
    pairs = load_pairs(find_pairs(fixture_pairs))
    plain = iter(RandomCrops(pairs, 32, seed=3, edges=False))
    darker = iter(RandomCrops(pairs, 32, seed=3, edges=False, augment=lambda nir, rng: (nir // 2).astype(np.uint8)))
    for _ in range(5):
        a, b = next(plain), next(darker)
        assert np.allclose((a[0] * 255).round().numpy() // 2, (b[0] * 255).round().numpy())
        assert np.array_equal(a[1].numpy(), b[1].numpy())

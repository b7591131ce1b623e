import shutil

import cv2
import numpy as np
import pytest
import torch

from nircolor.models.data import (
    DatasetError,
    RandomCrops,
    default_val_keys,
    edge_map,
    find_pairs,
    load_pair,
    load_pairs,
    read_nir,
    read_split,
    split_pairs,
)
from nircolor.models.zoo import SAMPLES_DIR

SPLIT = SAMPLES_DIR.parent / "splits" / "epfl-rgbnir-val.txt"


def test_finds_pairs_by_category(fixture_pairs):
    pairs = find_pairs(fixture_pairs)
    assert [p.key for p in pairs] == ["country/0006", "field/0008", "forest/0001"]
    pair = load_pair(pairs[0])
    assert pair.nir.ndim == 2 and pair.rgb.shape == (*pair.nir.shape, 3)
    assert pair.nir.dtype == np.uint8 and pair.rgb.dtype == np.uint8


def test_missing_partner_is_an_error_naming_the_file(tmp_path, fixture_pairs):
    shutil.copy(fixture_pairs / "country" / "0006_nir.jpg", tmp_path / "0001_nir.jpg")
    with pytest.raises(DatasetError, match="0001_nir.jpg has no RGB partner"):
        find_pairs(tmp_path)


def test_size_mismatch_is_an_error_naming_both_files(tmp_path):
    cv2.imwrite(str(tmp_path / "a_nir.png"), np.zeros((10, 12), np.uint8))
    cv2.imwrite(str(tmp_path / "a_rgb.png"), np.zeros((10, 13, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"a_nir.png is 12x10 but .*a_rgb.png is 13x10"):
        load_pairs(find_pairs(tmp_path))


def test_not_an_image_is_an_error(tmp_path):
    (tmp_path / "a_nir.png").write_text("not a picture")
    cv2.imwrite(str(tmp_path / "a_rgb.png"), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(DatasetError, match="a_nir.png is not a readable image"):
        load_pairs(find_pairs(tmp_path))


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(DatasetError, match="no <id>_nir"):
        find_pairs(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        find_pairs(tmp_path / "nope")


def test_sixteen_bit_and_colour_nir_are_reduced_to_8_bit_grey(tmp_path):
    grey16 = (np.arange(12 * 10, dtype=np.uint16).reshape(10, 12) * 500).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), grey16)
    assert read_nir(tmp_path / "g.png").dtype == np.uint8
    assert read_nir(tmp_path / "g.png").max() == round(grey16.max() / 257)
    cv2.imwrite(str(tmp_path / "c.png"), np.full((4, 4, 3), 90, np.uint8))
    assert read_nir(tmp_path / "c.png").shape == (4, 4)


def test_default_split_is_stratified_and_stable(fixture_pairs):
    pairs = find_pairs(fixture_pairs)
    assert default_val_keys(pairs) == default_val_keys(list(reversed(pairs)))
    assert len(default_val_keys(pairs)) == 3  # at least one per category


def test_committed_split_holds_every_sample_and_fixture(fixture_pairs):
    keys = read_split(SPLIT)
    assert len(keys) == 22
    assert {p.key for p in find_pairs(SAMPLES_DIR)} <= keys
    assert {p.key for p in find_pairs(fixture_pairs)} <= keys


def test_split_refuses_unknown_keys(fixture_pairs):
    with pytest.raises(DatasetError, match="not in the data"):
        split_pairs(find_pairs(fixture_pairs), {"country/9999"})


def test_edge_map_is_binary_and_marks_edges():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, 16:] = 255
    edges = edge_map(img)
    assert set(np.unique(edges)) == {0.0, 1.0}
    assert edges[:, 15:17].sum() > 0 and edges[:, :10].sum() == 0


def test_random_crops_shapes_ranges_and_registration(fixture_pairs):
    pairs = load_pairs(find_pairs(fixture_pairs))
    for p in pairs:  # make RGB a copy of NIR: a registered crop keeps them equal, flips included
        p.rgb = np.repeat(p.nir[:, :, None], 3, axis=2)
    crops = iter(RandomCrops(pairs, crop=48, seed=1))
    for _ in range(16):
        nir, rgb, edges = next(crops)
        assert nir.shape == (1, 48, 48) and rgb.shape == (3, 48, 48) and edges.shape == (3, 48, 48)
        assert 0 <= nir.min() and nir.max() <= 1 and -1 <= rgb.min() and rgb.max() <= 1
        assert torch.allclose((rgb + 1) / 2, nir.expand(3, -1, -1), atol=1e-6)


def test_crop_more_than_twice_the_images_is_refused(fixture_pairs):
    with pytest.raises(DatasetError, match="not larger than a third of the 512x512px crop"):
        RandomCrops(load_pairs(find_pairs(fixture_pairs)), crop=512, seed=0)


def test_rectangular_crops_keep_registration_and_a_frame_sized_crop_is_the_whole_frame(fixture_pairs):
    pairs = load_pairs(find_pairs(fixture_pairs))
    for p in pairs:
        p.rgb = np.repeat(p.nir[:, :, None], 3, axis=2)
    wide = iter(RandomCrops(pairs, crop=32, crop_width=96, seed=4, edges=False))
    for _ in range(8):
        nir, rgb, _ = next(wide)
        assert nir.shape == (1, 32, 96) and rgb.shape == (3, 32, 96)
        assert torch.allclose((rgb + 1) / 2, nir.expand(3, -1, -1), atol=1e-6)
    # One pair, crop exactly its size: every crop is the whole frame or its mirror image (the
    # view the global context has at run time).
    frame = pairs[0]
    h, w = frame.nir.shape
    whole = iter(RandomCrops([frame], crop=h, crop_width=w, seed=5, edges=False))
    expected = [torch.from_numpy(frame.nir.astype(np.float32) / 255), torch.from_numpy(frame.nir[:, ::-1].astype(np.float32) / 255)]
    seen = set()
    for _ in range(12):
        nir = next(whole)[0][0]
        match = [i for i, e in enumerate(expected) if torch.allclose(nir, e, atol=1e-6)]
        assert match, "a frame-sized crop is not the frame"
        seen.add(match[0])
    assert seen == {0, 1}  # flips still happen
    with pytest.raises(DatasetError, match="not larger than a third of the 32x512px crop"):
        RandomCrops(pairs, crop=32, crop_width=512, seed=0)


def test_pairs_shorter_than_the_crop_are_mirrored_and_stay_registered(fixture_pairs):
    pairs = load_pairs(find_pairs(fixture_pairs))
    for p in pairs:
        p.rgb = np.repeat(p.nir[:, :, None], 3, axis=2)
    crop = min(p.nir.shape[0] for p in pairs) + 10
    dataset = RandomCrops(pairs, crop=crop, seed=2)
    assert dataset.padded  # at least the shortest pair was mirrored out
    crops = iter(dataset)
    for _ in range(8):
        nir, rgb, _ = next(crops)
        assert nir.shape == (1, crop, crop)
        assert torch.allclose((rgb + 1) / 2, nir.expand(3, -1, -1), atol=1e-6)


def test_zoomed_crops_stay_registered_and_are_magnified_up_to_the_zoom(fixture_pairs):
    pairs = load_pairs(find_pairs(fixture_pairs))[:1]
    h, w = pairs[0].nir.shape
    # A horizontal ramp of one grey level per pixel: a crop magnified s times rises 1/s a pixel.
    ramp = np.tile(np.arange(w, dtype=np.float64) * 200 / w, (h, 1))
    pairs[0].nir = np.round(ramp).astype(np.uint8)
    pairs[0].rgb = np.repeat(pairs[0].nir[:, :, None], 3, axis=2)
    crop = min(h, w) // 2
    crops = iter(RandomCrops(pairs, crop=crop, seed=3, edges=True, zoom=2.0))
    slopes = []
    for _ in range(24):
        nir, rgb, edges = next(crops)
        assert nir.shape == (1, crop, crop) and rgb.shape == (3, crop, crop) and edges.shape == (3, crop, crop)
        assert torch.allclose((rgb + 1) / 2, nir.expand(3, -1, -1), atol=1e-6)  # NIR and colour zoomed alike
        row = nir[0, crop // 2].double() * 255
        slopes.append(abs(float(row[-8] - row[8])) / (crop - 16) / (200 / w))
    assert max(slopes) < 1.05 and min(slopes) > 1 / 2.0 - 0.05, slopes
    assert sum(s < 0.8 for s in slopes) >= 4 and sum(s > 0.9 for s in slopes) >= 2, slopes  # both near 1x and well magnified
    with pytest.raises(DatasetError, match="zoom 0.5 is outside"):
        RandomCrops(pairs, crop=crop, seed=0, zoom=0.5)

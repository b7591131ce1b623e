"""The fixed scene-level folds (models/splits/epfl-rgbnir-cv5.json, scripts/make_cv_folds.py)."""

import json
from collections import Counter

from nircolor.models.data import CV_FOLDS, cv_folds, extra_scene_keys, scene_closure


def test_every_pair_is_in_exactly_one_fold_and_categories_are_spread():
    folds = cv_folds()
    keys = [k for fold in folds for k in fold]
    assert len(folds) == 5 and len(keys) == len(set(keys)) == 172
    per_category = Counter(k.split("/")[0] for k in keys)
    for fold in folds:
        have = Counter(k.split("/")[0] for k in fold)
        for category, total in per_category.items():
            assert have[category] >= 2, (category, have)  # each fold holds every category
        assert 30 <= len(fold) <= 40


def test_no_scene_straddles_two_folds():
    blob = json.loads(CV_FOLDS.read_text())
    fold_of = {k: i for i, fold in enumerate(blob["folds"]) for k in fold}
    for link in blob["links"]:
        assert fold_of[link["a"]] == fold_of[link["b"]], link
    for group in blob["groups"]:
        assert len({fold_of[k] for k in group}) == 1, group


def test_scene_closure_adds_the_neighbouring_shots():
    # mountain/0006-0011 are shots of one place (the old fixed split held out 0007 and 0009 only
    # and trained on their neighbours).
    closed = scene_closure({"mountain/0007"})
    assert {"mountain/0006", "mountain/0008", "mountain/0011"} <= closed
    assert scene_closure({"water/0003"}) == {"water/0003"}
    assert scene_closure(set()) == set()


def test_extra_scene_keys_gather_every_overlap():
    record = {"epfl_id": "country/0013", "same_scene_as": "country/0013", "also_overlaps": ["country/0014"]}
    assert extra_scene_keys(record) == {"country/0013", "country/0014"}
    assert extra_scene_keys({"epfl_id": "field/0100", "same_scene_as": None, "also_overlaps": []}) == {"field/0100"}

"""scripts/cv_model_card.py: the worst-image pictures come from fold models that exist."""

import json
import shutil

from nircolor.cli import main

from .conftest import load_script

cv_model_card = load_script("cv_model_card")

TINY_RECIPE = ["--", "--arch", "snet", "--width", "4", "--objective", "l1", "--crop", "48", "--batch", "2", "--steps", "1",
               "--steps-per-epoch", "1", "--threads", "1"]


def test_worst_images_skip_folds_kept_without_their_model(tmp_path, fixture_pairs):
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"folds": [["country/0006", "field/0008"], ["forest/0001"]], "groups": [], "links": []}))
    out = tmp_path / "cv"
    base = ["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds), "--recipe", "tiny"]
    assert main([*base, "--only", "0", *TINY_RECIPE]) == 0
    kept = tmp_path / "kept.json"
    shutil.copy(out / "cv.json", kept)
    shutil.rmtree(out / "fold0")
    assert main([*base, "--kept", str(kept), "--only", "1", *TINY_RECIPE]) == 0
    summary = json.loads((out / "cv.json").read_text())

    triples, shown = cv_model_card.worst_images(out, summary, fixture_pairs)
    assert shown == ["forest/0001"]  # fold 0's two images have figures but no model to picture them with
    nir, colour, truth = triples[0]
    assert colour.shape == truth.shape and colour.shape[:2] == nir.shape[:2]


def test_compared_recipes_read_from_a_folder_its_cv_json_or_a_shipped_card(tmp_path):
    summary = {"recipe": "r18", "folds": 5, "images": 172, "over_folds": {"psnr": {"mean": 17.96}}, "tail": {"below_grey": 30}}
    folder = tmp_path / "runs" / "r18"
    folder.mkdir(parents=True)
    (folder / "cv.json").write_text(json.dumps(summary))
    card_json = tmp_path / "cv-effnet32.json"
    card_json.write_text(json.dumps({"name": "effnet32", "cv": summary, "compared": {}}))

    assert cv_model_card.cv_summary(folder) == summary
    assert cv_model_card.cv_summary(folder / "cv.json") == summary
    assert cv_model_card.cv_summary(card_json) == summary

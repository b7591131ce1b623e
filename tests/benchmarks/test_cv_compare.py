"""benchmarks/cv_compare.py: two CV results compared image by image, scenes resampled whole."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import cv_compare  # noqa: E402


@pytest.fixture
def folds_file(tmp_path):
    path = tmp_path / "folds.json"
    spec = {"folds": [["a/0001", "a/0002", "b/0001"], ["b/0002", "c/0001"]], "groups": [["a/0001", "a/0002"]], "links": []}
    path.write_text(json.dumps(spec))
    return path


def cv_json(path, psnrs):
    rows = [{"pair": k, "psnr": v, "fold": 0, "baseline": {"psnr": 10.0}} for k, v in psnrs.items()]
    path.write_text(json.dumps({"recipe": "x", "per_image": rows}))
    return str(path)


def test_paired_differences_per_fold_category_and_scene(tmp_path, folds_file, capsys):
    a = cv_json(tmp_path / "a.json", {"a/0001": 17.0, "a/0002": 18.0, "b/0001": 16.0, "b/0002": 15.0, "c/0001": 20.0})
    # B: +1 dB on the one scene of two shots, -0.5 on b/0002, c/0001 missing (not compared).
    b = cv_json(tmp_path / "b.json", {"a/0001": 18.0, "a/0002": 19.0, "b/0001": 16.0, "b/0002": 14.5})
    result = cv_compare.compare(cv_compare.load_figures(a), cv_compare.load_figures(b), folds_file, draws=500)
    assert result["images"] == 4 and result["scenes"] == 3  # a/0001 and a/0002 are one scene
    assert result["mean_delta"] == pytest.approx((1 + 1 + 0 - 0.5) / 4)
    assert result["per_fold"][0]["delta"] == pytest.approx(2 / 3) and result["per_fold"][1]["delta"] == pytest.approx(-0.5)
    assert result["fold_mean_delta"] == pytest.approx((2 / 3 - 0.5) / 2)
    assert result["b_better"] == 2 and result["a_better"] == 1
    assert result["per_category"]["a"]["delta"] == pytest.approx(1.0) and result["per_category"]["b"]["delta"] == pytest.approx(-0.25)
    low, high = result["interval_90"]
    # Scenes resampled whole: the draws' means are averages of the three scenes' differences.
    assert -0.5 <= low <= result["mean_delta"] <= high <= 1.0 and low < high

    assert cv_compare.main([a, b, "--folds", str(folds_file)]) == 0
    assert "B better on 2, A on 1" in capsys.readouterr().out


def test_a_cv_inference_row_is_one_side(tmp_path, folds_file):
    path = tmp_path / "inference.json"
    path.write_text(json.dumps({"per_image": {"as trained": {"a/0001": 17.0, "b/0002": 15.0}}}))
    assert cv_compare.load_figures(f"{path}#as trained") == {"a/0001": 17.0, "b/0002": 15.0}
    with pytest.raises(SystemExit, match="no per-image row 'flip'"):
        cv_compare.load_figures(f"{path}#flip")


def test_a_summary_without_per_image_figures_says_so(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"cv": {"recipe": "x", "over_folds": {}}}))
    with pytest.raises(SystemExit, match="holds no per-image figures"):
        cv_compare.load_figures(str(path))


def test_ssim_and_the_oracle_figures_are_compared_too(tmp_path, folds_file, capsys):
    def rows(ssim, true_chroma):
        return [{"pair": "a/0001", "psnr": 17.0, "ssim": ssim, "fold": 0, "oracle": {"true_luma": 29.0, "true_chroma": true_chroma,
                                                                                    "exposure": 18.0}}]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"recipe": "x", "per_image": rows(0.68, 17.5)}))
    b.write_text(json.dumps({"recipe": "y", "per_image": rows(0.70, 18.25)}))
    assert cv_compare.load_figures(str(b), "true_chroma") == {"a/0001": 18.25}
    assert cv_compare.main([str(a), str(b), "--folds", str(folds_file), "--figure", "ssim"]) == 0
    out = capsys.readouterr().out
    assert "B - A: +0.020 SSIM per image" in out and "| 0 | 1 | 0.680 | 0.700 | +0.020 |" in out
    assert cv_compare.main([str(a), str(b), "--folds", str(folds_file), "--figure", "true_chroma"]) == 0
    assert "+0.750 dB (true_chroma) per image" in capsys.readouterr().out
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"recipe": "x", "per_image": [{"pair": "a/0001", "psnr": 17.0, "fold": 0}]}))
    with pytest.raises(SystemExit, match="without the oracle decomposition"):
        cv_compare.load_figures(str(old), "true_chroma")

import json

import numpy as np
import pytest

from nircolor.cli import main
from nircolor.models.evaluate import per_category, tail_figures

TINY_RECIPE = ["--", "--arch", "snet", "--width", "4", "--objective", "l1", "--crop", "48", "--batch", "2", "--steps", "2",
               "--steps-per-epoch", "2", "--threads", "1"]


@pytest.fixture
def folds_file(tmp_path):
    path = tmp_path / "folds.json"
    path.write_text(json.dumps({"folds": [["country/0006", "field/0008"], ["forest/0001"]], "groups": [], "links": []}))
    return path


def test_cv_scores_every_image_once_by_the_model_that_never_saw_it(tmp_path, fixture_pairs, folds_file, capsys):
    out = tmp_path / "cv"
    argv = ["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds_file), "--recipe", "tiny", *TINY_RECIPE]
    assert main(argv) == 0
    summary = json.loads((out / "cv.json").read_text())
    assert summary["folds"] == 2 and summary["images"] == 3
    for k, keys in enumerate((["country/0006", "field/0008"], ["forest/0001"])):
        fold = json.loads((out / f"fold{k}" / "eval.json").read_text())
        assert [r["pair"] for r in fold["per_image"]] == keys
        config = json.loads((out / f"fold{k}" / "config.json").read_text())
        # Scored on the fold it validated on: nothing may be picked there, the last weights are kept.
        assert config["steps"] == 2 and config["val_split"].endswith("fold_split.txt") and config["keep"] == "last"
    assert set(summary["per_category"]) == {"country", "field", "forest"}
    assert {"psnr_p10", "below_grey", "worst"} <= set(summary["tail"])
    assert {"mean", "std", "min", "max"} <= set(summary["over_folds"]["psnr"])
    assert [(r["pair"], r["fold"]) for r in summary["per_image"]] == [("country/0006", 0), ("field/0008", 0), ("forest/0001", 1)]
    assert "| country | 1 |" in (out / "cv.md").read_text()
    # Where the error is (issue 21: report each recipe with the oracle decomposition), every image counted.
    assert summary["oracle"]["images"] == 3 and summary["oracle"]["true_luma"] > summary["oracle"]["model_psnr"]
    assert "its luminance with the true colour" in (out / "cv.md").read_text()
    assert "10th-percentile PSNR" in capsys.readouterr().out

    # A finished fold is not trained again.
    stamp = (out / "fold0" / "best.pt").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "fold0" / "best.pt").stat().st_mtime_ns == stamp


def test_cv_fold_models_never_train_on_their_fold(tmp_path, fixture_pairs, folds_file):
    from nircolor.models import checkpoint

    out = tmp_path / "cv"
    assert main(["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds_file), "--only", "1", *TINY_RECIPE]) == 0
    _, card = checkpoint.load(out / "fold1" / "best.pt")
    assert card.provenance["val_pairs"] == ["forest/0001"] and card.provenance["train_pairs"] == 2
    assert not (out / "fold0").exists()


def test_cv_refuses_per_fold_options(tmp_path, capsys):
    for option in ("--val-split", "--keep"):
        assert main(["cv", "--out", str(tmp_path), "--", option, "x"]) == 2
        assert "set per fold" in capsys.readouterr().err


def test_tail_figures_and_categories():
    rows = [{"pair": f"{'a' if i < 5 else 'b'}/{i:04d}", "psnr": float(10 + i), "ssim": 0.5, "angular_error": 5.0, "cosine": 0.9,
             "l1": 0.1, "baseline": {"psnr": 12.5, "ssim": 0.4, "angular_error": 6.0, "cosine": 0.8, "l1": 0.2}} for i in range(10)]
    tail = tail_figures(rows)
    assert tail["below_grey"] == 3  # 10, 11 and 12 dB
    assert tail["psnr_p10"] == pytest.approx(10.9)
    assert [w["pair"] for w in tail["worst"][:2]] == ["a/0000", "a/0001"]
    cats = per_category(rows)
    assert cats["a"]["images"] == 5 and cats["a"]["psnr"] == pytest.approx(12.0) and cats["b"]["grey"]["psnr"] == 12.5


def test_a_failing_fold_is_one_line_naming_its_log(tmp_path, fixture_pairs, folds_file, capsys):
    argv = ["cv", "--out", str(tmp_path / "cv"), "--data", str(fixture_pairs), "--folds", str(folds_file), "--only", "1",
            "--", "--arch", "nonet", "--crop", "48", "--steps", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "training fold 1 failed" in err and "train.log" in err
    assert "unknown architecture 'nonet'" in (tmp_path / "cv" / "fold1" / "train.log").read_text()


def test_a_fold_at_a_time_keeps_the_earlier_folds_in_the_summary(tmp_path, fixture_pairs, folds_file):
    out = tmp_path / "cv"
    base = ["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds_file)]
    assert main([*base, "--only", "1", *TINY_RECIPE]) == 0
    assert json.loads((out / "cv.json").read_text())["folds"] == 1
    assert main([*base, "--only", "0", *TINY_RECIPE]) == 0
    summary = json.loads((out / "cv.json").read_text())
    assert summary["folds"] == 2 and sorted(summary["fold_means"]) == ["0", "1"]
    # cv_config.json names the folds the summary covers (model cards quote it), not the last call's
    assert json.loads((out / "cv_config.json").read_text())["folds"] == [0, 1]


def test_kept_figures_stand_in_for_a_fold_whose_folder_is_gone(tmp_path, fixture_pairs, folds_file, capsys):
    import shutil

    out = tmp_path / "cv"
    base = ["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds_file), "--recipe", "tiny"]
    assert main([*base, "--only", "0", *TINY_RECIPE]) == 0
    kept = tmp_path / "cv-tiny-fold0.json"
    shutil.copy(out / "cv.json", kept)
    fold0 = json.loads(kept.read_text())
    shutil.rmtree(out)  # a fresh machine: the run folder is gone, the summary was committed

    # Figures of another recipe must not be mixed in, and the mistake costs no training.
    assert main(["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds_file), "--recipe", "other",
                 "--kept", str(kept), "--only", "1", *TINY_RECIPE]) == 2
    assert "recipe 'tiny', not 'other'" in capsys.readouterr().err and not (out / "fold1").exists()

    assert main([*base, "--kept", str(kept), "--only", "1", *TINY_RECIPE]) == 0
    summary = json.loads((out / "cv.json").read_text())
    assert summary["folds"] == 2 and summary["images"] == 3 and summary["kept"] == {"file": str(kept), "folds": [0]}
    assert summary["fold_means"]["0"] == fold0["fold_means"]["0"]
    assert [(r["pair"], r["fold"]) for r in summary["per_image"]] == [("country/0006", 0), ("field/0008", 0), ("forest/0001", 1)]
    assert json.loads((out / "cv_config.json").read_text())["folds"] == [0, 1]
    assert f"Folds 0: figures kept in {kept}" in (out / "cv.md").read_text()


def test_another_runs_fold_models_are_scored_with_run_time_options_set(tmp_path, fixture_pairs, folds_file, capsys):
    from nircolor.models import checkpoint

    source, out = tmp_path / "cv", tmp_path / "cv-flip"
    recipe = ["--", "--arch", "effnet_unet", "--options", '{"width": 4, "context_width": 4}', "--crop", "64", "--batch", "2",
              "--steps", "2", "--steps-per-epoch", "2", "--threads", "1"]
    assert main(["cv", "--out", str(source), "--data", str(fixture_pairs), "--folds", str(folds_file), "--recipe", "tiny",
                 "--only", "1", *recipe]) == 0
    before = (source / "fold1" / "best.pt").read_bytes()
    derive = ["cv", "--out", str(out), "--from", str(source), "--set", "flip_average=true", "--set", "denoise=3"]
    assert main(derive) == 0
    summary = json.loads((out / "cv.json").read_text())
    assert summary["recipe"] == 'tiny with {"flip_average": true, "denoise": 3}' and summary["folds"] == 1
    assert summary["derived"] == {"from": str(source), "options": {"flip_average": True, "denoise": 3}}
    _, card = checkpoint.load(out / "fold1" / "best.pt")
    assert card.options == {"width": 4, "context_width": 4, "flip_average": True, "denoise": 3}
    assert (source / "fold1" / "best.pt").read_bytes() == before  # the trained fold model is left as it was
    assert [r["pair"] for r in summary["per_image"]] == ["forest/0001"]
    assert summary["fold_means"]["1"] != json.loads((source / "cv.json").read_text())["fold_means"]["1"]  # scored anew
    # A second call finds the same options set and keeps the scores it has.
    stamp = (out / "fold1" / "eval.json").stat().st_mtime_ns
    assert main(derive) == 0 and (out / "fold1" / "eval.json").stat().st_mtime_ns == stamp

    capsys.readouterr()
    assert main(["cv", "--out", str(tmp_path / "bad"), "--from", str(source), "--set", "width=8"]) == 2
    assert "retrain" in capsys.readouterr().err
    assert main(["cv", "--out", str(tmp_path / "bad"), "--set", "flip_average=true"]) == 2
    assert "--from RUN" in capsys.readouterr().err
    assert main(["cv", "--out", str(source), "--from", str(source), "--set", "flip_average=true"]) == 2
    assert "new --out" in capsys.readouterr().err


def test_each_fold_is_calibrated_on_the_other_folds_only(tmp_path, fixture_pairs, folds_file, capsys):
    from nircolor.models import calibration, checkpoint
    from nircolor.models.cv_calibration import SAMPLES

    source, out = tmp_path / "cv", tmp_path / "cv-cal"
    recipe = ["--", "--arch", "effnet_unet", "--options", '{"width": 4, "context_width": 4}', "--crop", "64", "--batch", "2",
              "--steps", "2", "--steps-per-epoch", "2", "--threads", "1", "--infer-size", "96"]
    assert main(["cv", "--out", str(source), "--data", str(fixture_pairs), "--folds", str(folds_file), "--recipe", "tiny",
                 *recipe]) == 0
    assert main(["cv", "--out", str(out), "--from", str(source), "--calibrate", "--set", "flip_average=true"]) == 0
    record = json.loads((out / "calibration.json").read_text())
    samples = {k: calibration.load_samples(out / f"fold{k}" / SAMPLES) for k in (0, 1)}
    assert [s.pair for s in samples[0]] == ["country/0006", "field/0008"] and [s.pair for s in samples[1]] == ["forest/0001"]
    for k, other in ((0, 1), (1, 0)):
        np.testing.assert_allclose(record["folds"][str(k)]["coefficients"], calibration.fit(samples[other]), rtol=1e-2, atol=1e-3)
        _, card = checkpoint.load(out / f"fold{k}" / "best.pt")
        assert card.options["calibration"] == record["folds"][str(k)]["coefficients"] and card.options["flip_average"] is True
    np.testing.assert_allclose(record["all_folds"], calibration.fit(samples[0] + samples[1]), rtol=1e-2, atol=1e-3)
    summary = json.loads((out / "cv.json").read_text())
    assert summary["derived"]["calibration"].startswith("each fold's coefficients fitted on the other folds")
    assert summary["recipe"].endswith("calibrated") and summary["images"] == 3
    assert "calibrated: each fold's coefficients" in (out / "cv.md").read_text()
    assert "working-size PSNR" in capsys.readouterr().out
    assert main(["cv", "--out", str(tmp_path / "bad"), "--calibrate"]) == 2

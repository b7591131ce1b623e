"""benchmarks/ensemble.py: two runs of one recipe alone, colours averaged, weights averaged."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import ensemble  # noqa: E402

from nircolor.cli import main  # noqa: E402


def test_two_runs_scored_alone_averaged_and_souped_image_by_image(tmp_path, fixture_pairs, monkeypatch, capsys):
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"folds": [["country/0006", "field/0008"], ["forest/0001"]], "groups": [], "links": []}))
    runs = []
    for data_seed in ("1", "2"):
        out = tmp_path / f"run{data_seed}"
        assert main(["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds), "--only", "0", "--",
                     "--arch", "effnet_unet", "--options", '{"width": 4, "context_width": 4}', "--crop", "64", "--batch", "2",
                     "--steps", "2", "--steps-per-epoch", "2", "--threads", "1", "--infer-size", "96", "--data-seed", data_seed]) == 0
        runs.append(out)
    monkeypatch.setattr(ensemble, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["ensemble.py", str(runs[0]), str(runs[1]), "--name", "t"])
    ensemble.main()
    report = json.loads((tmp_path / "results" / "ensemble-t.json").read_text())
    assert report["folds"] == [0] and [r["pair"] for r in report["rows"]] == ["country/0006", "field/0008"]
    first = report["rows"][0]
    assert first["a"]["psnr"] != first["b"]["psnr"]  # two runs, two colourings
    # The ensemble averages the colours: its error is at most the mean of the two errors (convexity).
    mse = {n: 10 ** (-first[n]["psnr"] / 10) for n in ("a", "b", "ensemble")}
    assert mse["ensemble"] <= (mse["a"] + mse["b"]) / 2 * 1.01
    assert set(report["means"]) == {"a", "b", "ensemble", "soup", "grey"}
    assert "mean of the two weights" in (tmp_path / "results" / "ensemble-t.md").read_text()

    monkeypatch.setattr(sys, "argv", ["ensemble.py", str(runs[0]), str(tmp_path / "nothing"), "--name", "t"])
    with pytest.raises(SystemExit, match="no finished fold in common"):
        ensemble.main()

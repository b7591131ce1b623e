"""benchmarks/context_crop.py: the whole frame's global context against a crop's, fold by fold."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import context_crop  # noqa: E402

from nircolor.cli import main  # noqa: E402
from nircolor.models import checkpoint  # noqa: E402


@pytest.fixture
def tiny_run(tmp_path, fixture_pairs):
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"folds": [["country/0006", "field/0008"], ["forest/0001"]], "groups": [], "links": []}))
    out = tmp_path / "run"
    assert main(["cv", "--out", str(out), "--data", str(fixture_pairs), "--folds", str(folds), "--only", "0", "--",
                 "--arch", "effnet_unet", "--options", '{"width": 4, "context_width": 4}', "--crop", "64", "--batch", "2",
                 "--steps", "2", "--steps-per-epoch", "2", "--threads", "1", "--infer-size", "96"]) == 0
    return out


def test_the_frame_given_its_own_context_back_is_coloured_as_it_is(tiny_run):
    net, _ = checkpoint.load(tiny_run / "fold0" / "best.pt")
    net.eval()
    # Two training steps leave FiLM and the head's last layer at their zero start (the output is
    # the NIR as grey); give them weights so that the context reaches the uint8 picture.
    with torch.no_grad():
        net.bottleneck_film.weight.fill_(0.1)
        net.pixel_mlp[-1].weight.fill_(0.1)
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        plain, own = context_crop.colour(net, x)
        again, _ = context_crop.colour(net, x, own)
        other, _ = context_crop.colour(net, x, own + 1.0)
    np.testing.assert_array_equal(plain, again)
    assert np.abs(other - plain).max() > 0  # the swapped-in context is what the decoder reads


def test_each_image_of_each_fold_gets_both_scores(tiny_run, fixture_pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(context_crop, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["context_crop.py", str(tiny_run), "--data", str(fixture_pairs), "--crop", "48", "--crops", "2",
                                      "--name", "t"])
    context_crop.main()
    report = json.loads((tmp_path / "results" / "context-crop-t.json").read_text())
    assert sorted(r["pair"] for r in report["rows"]) == ["country/0006", "field/0008"]
    for r in report["rows"]:
        assert np.isfinite(r["whole_context_psnr"]) and np.isfinite(r["crop_context_psnr"]) and r["luma_change"] >= 0
    assert [f["fold"] for f in report["folds"]] == ["fold0"]
    assert "| fold0 | 2 |" in (tmp_path / "results" / "context-crop-t.md").read_text()

    monkeypatch.setattr(sys, "argv", ["context_crop.py", str(tmp_path / "nothing"), "--name", "t"])
    with pytest.raises(SystemExit, match="no finished fold"):
        context_crop.main()

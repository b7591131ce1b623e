"""benchmarks/frame_speed.py: models side by side, whole frame then stabiliser, per frame size."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import frame_speed  # noqa: E402

from nircolor.models import checkpoint  # noqa: E402
from nircolor.models.networks import create  # noqa: E402


def _tiny(path: Path, width: int) -> Path:
    net = create("effnet_unet", width=width, context_width=4).eval()
    card = checkpoint.ModelCard("effnet_unet", {"width": width, "context_width": 4}, net.multiple, infer_size=96)
    return checkpoint.save(path, net, card)


def test_each_model_and_size_gets_a_row_and_a_ratio_to_the_first(tmp_path, fixture_pairs, monkeypatch, capsys):
    models = [str(_tiny(tmp_path / "a.pt", 4)), str(_tiny(tmp_path / "b.pt", 8))]
    monkeypatch.setattr(frame_speed, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["frame_speed.py", "--model", ",".join(models), "--backend", "torch", "--runs", "2",
                                      "--sizes", "160x120,320x240", "--data", str(fixture_pairs), "--name", "t"])
    frame_speed.main()
    report = json.loads((tmp_path / "results" / "frame-speed-t.json").read_text())
    assert [(r["model"], r["size"]) for r in report["rows"]] == [(m, s) for s in ("160x120", "320x240") for m in models]
    for r in report["rows"]:
        assert r["frame_ms"] > 0 and r["stabiliser_ms"] > 0
        assert r["fps"] == pytest.approx(1000 / (r["frame_ms"] + r["stabiliser_ms"]))
    table = (tmp_path / "results" / "frame-speed-t.md").read_text()
    assert table.count("| 1.00x |") >= 2  # the first model against itself, at each size

    monkeypatch.setattr(sys, "argv", ["frame_speed.py", "--model", models[0], "--data", str(tmp_path), "--name", "t"])
    with pytest.raises(SystemExit, match="no <id>_nir"):
        frame_speed.main()

"""benchmarks/train_throughput.py: the training step timed per setting, side by side."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import train_throughput  # noqa: E402

from nircolor.models.train import TrainConfig  # noqa: E402


def test_every_setting_is_timed_and_compared_with_the_first(fixture_pairs, tmp_path):
    cfg = TrainConfig(data=str(fixture_pairs), out=str(tmp_path), arch="snet", options={"width": 4}, objective="l2", crop=32, batch=2,
                      ssim_weight=0.2, angular_weight=0.5, infer_size=96)
    chosen = train_throughput.settings([1, 2])
    assert len(chosen) == 8 and chosen[0] == train_throughput.Setting(1, True, False)
    rows = train_throughput.measure(cfg, chosen, steps=2, rounds=2)
    assert [r["setting"] for r in rows] == [s.name for s in chosen]
    assert rows[0]["speed_vs_first"] == 1.0 and all(r["steps_timed"] == 4 and r["samples_per_s"] > 0 for r in rows)
    lines = train_throughput.markdown(rows, cfg, "python benchmarks/train_throughput.py")
    assert sum(line.startswith("| 2 threads, NCHW, bf16 |") for line in lines) == 1


def test_the_shipped_recipe_is_read_from_the_default_model_card(tmp_path):
    cfg = train_throughput.shipped_recipe(tmp_path / "pairs", None)
    assert cfg.arch == "effnet_unet" and cfg.pretrained and cfg.batch == 8 and cfg.infer_size == 384
    assert cfg.data == str(tmp_path / "pairs") and cfg.extra_data is None and "flip_average" not in cfg.options

"""`nircolor models`: every shipped model side by side, from figures that scripts/zoo_table.py
measured on the files that ship now; the README's model table is its output."""

import json
from pathlib import Path

from nircolor.cli import main
from nircolor.models import checkpoint, zoo
from nircolor.models.networks.blocks import count_parameters

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_shipped_model_has_figures_of_the_file_that_ships():
    figures = zoo.figures()
    assert set(figures) == set(zoo.ZOO)
    for name, f in figures.items():
        assert f is not None, f"{name} is not measured: run python scripts/zoo_table.py {name}"
        net, card = checkpoint.load(zoo.ZOO[name].path)
        # Stale figures (a model retrained after it was measured) fail here.
        assert (f["architecture"], f["options"], f["parameters"]) == (card.architecture, card.options, count_parameters(net))
        assert f["gflop_640x480"] > 0 and f["ort_cpu_ms_640x480"] > 0


def test_models_command_forms(capsys):
    assert main(["models", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == zoo.figures()
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].replace(" (default)", "") for line in lines] == list(zoo.ZOO)
    assert any("(default)" in line for line in lines) and all("GFLOP" in line for line in lines)
    assert main(["models", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == zoo.markdown_table()


def test_readme_model_table_is_the_commands_output():
    assert zoo.markdown_table() in README.read_text(), "paste `nircolor models --format markdown` into the README's model table"


def test_a_recipe_scored_on_some_folds_says_how_many():
    from nircolor.models.zoo import _cv_cell

    cv = {"folds": 3, "psnr": {"mean": 17.9, "std": 0.1}}
    assert _cv_cell(cv, "psnr", 2) == "17.90 ± 0.10 (3 of 5 folds)"
    assert _cv_cell({**cv, "folds": 5}, "psnr", 2) == "17.90 ± 0.10"
    assert _cv_cell(None, "psnr", 2) == "not cross-validated"


def test_the_fold_file_constant_stays_a_path():
    # A count once shadowed it and every default-split training failed.
    from nircolor.models import data, zoo

    assert zoo.CV_FOLDS.is_file() and data.CV_FOLDS == zoo.CV_FOLDS
    assert len(data.cv_folds()) == zoo.CV_FOLD_COUNT

"""scripts/zoo_table.py: new weights of an unchanged graph may keep the latency measured before."""

import numpy as np
import pytest

from nircolor.models import checkpoint, zoo

from .conftest import load_script

zoo_table = load_script("zoo_table")


def test_keep_latency_only_for_the_same_graph(tmp_path):
    _, card = checkpoint.load(zoo.ZOO["estuary16"].path)
    frame = np.full((zoo_table.HEIGHT, zoo_table.WIDTH), 90, np.uint8)
    kept = {"architecture": card.architecture, "options": card.options, "ort_cpu_ms_640x480": 12345.0}
    assert zoo_table.measure("estuary16", frame, tmp_path, kept)["ort_cpu_ms_640x480"] == 12345.0
    changed = {**kept, "options": {**card.options, "width": 99}}
    assert zoo_table.measure("estuary16", frame, tmp_path, changed)["ort_cpu_ms_640x480"] < 12345.0


def test_an_unknown_model_is_refused(capsys):
    with pytest.raises(SystemExit):
        zoo_table.main(["estuary-16"])
    assert "unknown model estuary-16" in capsys.readouterr().err

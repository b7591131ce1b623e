"""benchmarks/harness.py: the parts every benchmark shares."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import harness  # noqa: E402


def test_a_report_carries_the_machine_and_its_table(tmp_path):
    path = harness.write_report(tmp_path / "r.json", {"rows": [1, 2]}, ["# r", "", "| a |"])
    saved = json.loads(path.read_text())
    assert saved["rows"] == [1, 2] and saved["machine"]["cores"] and saved["machine"]["python"]
    assert (tmp_path / "r.md").read_text() == "# r\n\n| a |\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]  # nothing half-written left


def test_the_timing_loop_times_each_call_after_warm_up():
    calls = []
    times = harness.time_calls(lambda: calls.append(1), runs=5, warmup=2)
    assert len(calls) == 7 and len(times) == 5 and all(t >= 0 for t in times)
    figures = harness.latency([3.0, 1.0, 2.0, 10.0])
    assert figures["median_ms"] == 2.5 and figures["min_ms"] == 1.0 and 3.0 < figures["p95_ms"] <= 10.0

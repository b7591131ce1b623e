"""What every benchmark shares: where results go, the machine they were measured on, a timing
loop with its summary, and one writer for the JSON and Markdown pair (written whole, then renamed).

Scripts here run as `python benchmarks/NAME.py`, which puts this folder on the import path."""

from __future__ import annotations

from pathlib import Path

from nircolor import files
# One description of the machine and one timing loop, shared with `nircolor bench` and scripts/.
from nircolor.runtime.bench import latency, machine, time_calls

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT.parent / "shared" / "data" / "epfl-rgbnir"
__all__ = ["DATA", "RESULTS", "ROOT", "latency", "machine", "time_calls", "write_markdown", "write_report"]


def write_report(path: str | Path, data: dict, markdown: list[str] | str | None = None, with_machine: bool = True) -> Path:
    """PATH.json (with the machine added unless the data has one) and, given lines, PATH.md."""
    path = Path(path).with_suffix(".json")
    if with_machine and "machine" not in data:
        data = {"machine": machine(), **data}
    files.write_json(path, data)
    if markdown is not None:
        write_markdown(path.with_suffix(".md"), markdown)
    return path


def write_markdown(path: str | Path, markdown: list[str] | str) -> Path:
    """A Markdown table or report: given as lines or as one text."""
    return files.write_text(Path(path).with_suffix(".md"), markdown if isinstance(markdown, str) else "\n".join(markdown) + "\n")

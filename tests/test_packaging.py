"""What the published package holds and names: every shipped data file matched by pyproject.toml's
package data, and every extra that an error message or the format table names exists."""

import fnmatch
import subprocess
import tomllib
from pathlib import Path

import pytest

from nircolor.export.formats import FORMATS

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Package folders whose non-Python files are data the installed package reads.
DATA_FOLDERS = {"models/weights": "nircolor.models", "models/splits": "nircolor.models", "models/samples": "nircolor.models",
                "runtime/samples": "nircolor.runtime"}


def test_every_shipped_data_file_is_package_data():
    listed = subprocess.run(["git", "ls-files", *DATA_FOLDERS], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()[:200]}")
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    missing = []
    for name in listed.stdout.split():
        package = next(p for folder, p in DATA_FOLDERS.items() if name.startswith(folder + "/"))
        relative = Path(name).relative_to(dirs[package]).as_posix()
        if not any(fnmatch.fnmatch(relative, pattern) for pattern in patterns[package]):
            missing.append(name)
    assert not missing, f"not in the wheel (add a pattern to [tool.setuptools.package-data]): {missing}"


def test_every_python_package_is_in_the_wheel():
    """setuptools is given the package list by hand (the folders are mapped to nircolor.*): a new
    sub-package that is not in it is missing from the wheel, whatever the tests run from the tree say."""
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_extras_the_format_table_names_exist():
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    assert {f.extra for f in FORMATS.values()} <= extras


def test_the_readme_reads_in_one_sitting_and_its_links_resolve():
    import re

    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for page in ("README.md", *(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))):
        body = (ROOT / page).read_text()
        for target in re.findall(r"\]\(([^)#]+?)\)", body):
            if "://" not in target:
                assert (ROOT / page).parent.joinpath(target).resolve().exists(), f"{page} links to missing {target}"

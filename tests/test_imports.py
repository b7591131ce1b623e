"""Every module imports with only the base dependencies installed."""

import importlib
import pkgutil

import nircolor
import nircolor.export
import nircolor.models
import nircolor.runtime


def test_every_module_imports():
    names = ["nircolor.cli"]
    for pkg in (nircolor.models, nircolor.export, nircolor.runtime):
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    for name in names:
        importlib.import_module(name)
    assert "nircolor.models.networks.snet" in names and "nircolor.export.tensorrt" in names
    assert "nircolor.runtime.backends.tensorrt_backend" in names


def test_help_lists_subcommands(capsys):
    from nircolor.cli import build_parser

    text = build_parser().format_help()
    assert "train" in text and "eval" in text

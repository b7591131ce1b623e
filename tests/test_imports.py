"""Every module imports with only the base dependencies installed."""

import importlib
import pkgutil

import nircolor
import nircolor.models


def test_every_module_imports():
    names = ["nircolor.cli"]
    for pkg in (nircolor.models,):
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    for name in names:
        importlib.import_module(name)
    assert "nircolor.models.networks.snet" in names


def test_help_lists_subcommands(capsys):
    from nircolor.cli import build_parser

    text = build_parser().format_help()
    assert "train" in text and "eval" in text

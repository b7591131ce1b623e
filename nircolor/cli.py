"""The `nircolor` command: the parser, made of each command module's parsers (nircolor/commands),
and one way to report a user's error: one line, exit status 2."""

from __future__ import annotations

import argparse
import sys

from nircolor.commands import MODULES


def build_parser() -> argparse.ArgumentParser:
    from nircolor import __version__

    parser = argparse.ArgumentParser(prog="nircolor", description="Near-infrared to RGB colorization.")
    parser.add_argument("--version", action="version", version=f"nircolor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in MODULES:
        module.register(sub)
    return parser


# The errors a user can cause, by module: each is printed as one line with exit status 2. They
# are looked up only once something was raised, and only in modules this install can import (a
# runtime without PyTorch has no training modules, and so cannot raise their errors).
USER_ERRORS = {
    "nircolor.export.check": ("ParityError",),
    "nircolor.export.engine_file": ("EngineFileError",),
    "nircolor.export.tensorrt": ("EngineBuildError",),
    "nircolor.models.checkpoint": ("CheckpointError",),
    "nircolor.models.cv": ("CVError",),
    "nircolor.models.data": ("DatasetError",),
    "nircolor.models.networks.registry": ("UnknownArchitectureError",),
    "nircolor.models.zoo": ("UnknownModelError",),
    "nircolor.runtime.backends.base": ("BackendError",),
    "nircolor.runtime.pipeline": ("PipelineError",),
}


def _user_errors() -> tuple[type[BaseException], ...]:
    import importlib

    found: list[type[BaseException]] = [ImportError, ValueError, OSError]
    for module, names in USER_ERRORS.items():
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        found += [getattr(loaded, name) for name in names]
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"nircolor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"nircolor {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The `obliviate` command line. Each subpackage contributes its subcommands through `register(subparsers)`.

Run `obliviate --help`; errors in user input are printed as one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from obliviate.errors import ObliviateError

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = [
    "obliviate.demo",
    "obliviate.data.cli",
    "obliviate.models.cli",
    "obliviate.run_cli",
    "obliviate.engine.cli",
    "obliviate.eval.cli",
    "obliviate.report.cli",
    "obliviate.vision.cli",
    "obliviate.diffusion.cli",
    "obliviate.audit.cli",
    "obliviate.exact.cli",
    "obliviate.ledger.cli",
    "obliviate.guard.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obliviate", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"obliviate {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from obliviate import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except (ObliviateError, OSError) as e:  # OSError: unreadable input, unwritable output
        print(f"obliviate {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())

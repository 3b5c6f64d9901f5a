"""`capsnet` on the command line: the only code of the package that prints, reads argv or picks file names.

Each command is a module with ``register(subparsers)``. Every failure a user can cause ends as
one line on stderr and exit code 2, without a traceback; Ctrl-C (or SIGTERM) gives 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import CapsNetError
from . import evaluate, figures, multi, train

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
    except CapsNetError as err:
        print(f"capsnet: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("capsnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capsnet", description="Capsule networks with dynamic routing (Sabour et al. 2017), offline on a CPU."
    )
    parser.add_argument("--version", action="version", version=f"capsnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (train, evaluate, figures, multi):
        command.register(subparsers)
    return parser

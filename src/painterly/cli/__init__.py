"""Command line: with the server, the only code that prints, reads argv and picks file names.

Each command lives in its own module with a ``register(subparsers)`` function. Every failure a
user can cause ends as one line on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..allocator import tune_malloc
from ..errors import PainterlyError
from . import batch, explain, fast, models, search, serve, startup, stylize, tags
from .common import EXIT_INTERRUPTED, EXIT_USAGE, OneLineArgumentParser

# search: index, search, map; tags: tags, words
COMMANDS = [stylize, fast, models, serve, explain, search, tags, batch]


def main(argv: Sequence[str] | None = None) -> int:
    with startup.quiet_interrupts():  # Ctrl-C before torch has loaded: exit 130, no traceback
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return EXIT_USAGE
        tune_malloc()
        try:
            startup.configure_threads(getattr(args, "threads", None))
        except PainterlyError as err:
            print(f"painterly: error: {err}", file=sys.stderr)
            return EXIT_USAGE
        if getattr(args, "needs_torch", True):  # `fast apply` imports it only if a job needs it
            startup.load_torch()
    try:
        return args.handler(args)
    except PainterlyError as err:
        print(f"painterly: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    # Subparsers inherit the class: every usage error is one line (cli/common.py).
    parser = OneLineArgumentParser(prog="painterly", description="Repaint a photo in the style of an artwork.")
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    parser.add_argument("--threads", metavar="N", help="torch threads: a number, or auto (default; fewer "
                        "and passive waiting when other programs keep cores busy); env PAINTERLY_THREADS")
    return parser

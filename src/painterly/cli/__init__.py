"""Command line: with the server, the only code that prints, reads argv and picks file names.

Each command lives in its own module with a ``register(subparsers)`` function. Every failure a
user can cause ends as one line on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..allocator import tune_malloc
from ..errors import PainterlyError
from . import startup
from .common import EXIT_INTERRUPTED, EXIT_USAGE, OneLineArgumentParser

# The modules that register the commands, in the order help lists them.
COMMANDS = ["stylize", "fast", "models", "serve", "explain", "search", "tags", "batch"]
# Command word -> its module, where they differ (search: index, search, map; tags: tags, words).
# A run imports and builds only its own command's parser: all of them cost ~25 ms of a `fast
# apply` that takes 0.35 s in all. Help and unknown words build every one (tests/test_cli.py
# checks this table against what the modules register).
COMMAND_MODULES = {name: name for name in COMMANDS} | {"index": "search", "map": "search", "words": "tags"}


def main(argv: Sequence[str] | None = None) -> int:
    with startup.quiet_interrupts():  # Ctrl-C before torch has loaded: exit 130, no traceback
        startup.start_busy_cores_probe()
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(_command_word(argv))
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return EXIT_USAGE
        tune_malloc()
        try:
            if getattr(args, "needs_torch", True):
                startup.configure_threads(getattr(args, "threads", None))
                startup.load_torch()
            else:  # `fast apply` configures them itself, when (and if) a job needs them
                startup.check_threads(getattr(args, "threads", None))
        except PainterlyError as err:
            print(f"painterly: error: {err}", file=sys.stderr)
            return EXIT_USAGE
    try:
        return args.handler(args)
    except PainterlyError as err:
        print(f"painterly: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every command's, or only ``command``'s (a word of COMMAND_MODULES)."""
    # Subparsers inherit the class: every usage error is one line (cli/common.py).
    parser = OneLineArgumentParser(prog="painterly", description="Repaint a photo in the style of an artwork.")
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMANDS:
        importlib.import_module(f".{name}", __name__).register(subparsers)
    parser.add_argument("--threads", metavar="N", help="torch threads: a number, or auto (default; fewer "
                        "and passive waiting when other programs keep cores busy); env PAINTERLY_THREADS")
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The command a command line runs (its first word that is not a global option), if any."""
    words = iter(argv)
    for word in words:
        if word == "--threads":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None

"""Pieces the CLI commands share: options from dataclasses, the progress bar, signal handling."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from ..progress import Progress

# What `register(subparsers)` of each command module receives.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# Exit codes of every command: 0 done, 1 some files of a folder or batch failed, 2 a refusal
# (bad input, usage), 130 interrupted by Ctrl-C or SIGTERM (the work so far is kept).
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class OneLineArgumentParser(argparse.ArgumentParser):
    """Usage mistakes end as one line on stderr and exit code 2, like every other refusal.

    argparse's default prints the whole usage block first, which buries the one line that says
    what is wrong; `--help` still shows it.
    """

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument and sizes it with
        # shutil.get_terminal_size: importing shutil (and with it bz2 and lzma) was ~3 ms of each
        # 0.35 s `fast apply`. The same width, found the same way, without it.
        # (typeshed's protocol for formatter classes names only prog; argparse's all take width)
        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)  # type: ignore[call-arg]


def terminal_columns() -> int:
    """What shutil.get_terminal_size().columns says: $COLUMNS, else stdout's terminal, else 80."""
    import os

    with contextlib.suppress(ValueError):
        if int(os.environ.get("COLUMNS", "0")) > 0:
            return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def add_dataclass_options(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), *, check_ranges: bool = False
) -> None:
    """One --option per dataclass field, with the field's default, help text, choices and metavar.

    ``check_ranges``: numbers outside the field's minimum/maximum fail at parse time, as the
    option (``--queue: 0 is below the minimum 1``); otherwise the settings' ``validate`` names them.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind, is_list = _scalar_type(hints[f.name])
        option = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"default": f.default, "help": f.metadata.get("help", ""), "dest": f.name}
        limits = (f.metadata.get("minimum"), f.metadata.get("maximum"))
        if check_ranges and kind in (int, float) and limits != (None, None):
            kwargs["type"] = in_range(kind, option, limits, also=tuple(f.metadata.get("also", ())))
        elif kind is not str:
            kwargs["type"] = kind
        if "metavar" in f.metadata:
            kwargs["metavar"] = f.metadata["metavar"]
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        if is_list:
            kwargs["nargs"] = "+"
        parser.add_argument(option, **kwargs)


def in_range(
    kind: type, name: str, limits: tuple[float | None, float | None], *, also: tuple = ()
) -> Callable[[str], Any]:
    """An argparse ``type`` that parses ``kind`` and refuses values outside ``limits`` (or in ``also``).

    ``--size 100000`` or ``--seed 1e30`` then fail at parse time with one line, before any work.
    """
    from ..errors import ParameterError
    from ..params import check_range

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a {'whole ' if kind is int else ''}number") from None
        if value in also:
            return value
        try:
            check_range(name, value, *limits)
        except ParameterError as err:
            raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from None
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


T = typing.TypeVar("T")


def dataclass_from_args(cls: type[T], args: argparse.Namespace) -> T:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})  # type: ignore[arg-type]


def _scalar_type(hint: object) -> tuple[type, bool]:
    """int | None -> (int, False); list[float] | None -> (float, True)."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    inner = [a for a in typing.get_args(hint) if a is not type(None)][0] if is_union else hint
    if typing.get_origin(inner) is list:
        return typing.get_args(inner)[0], True
    return inner, False  # type: ignore[return-value]


class ProgressBar:
    """A tqdm bar on stderr showing the loss terms and an ETA; one bar for all pyramid levels.

    Events that report ``progress`` (a fraction of the run's work) drive the bar by work, not by
    steps: a pyramid's last level has a quarter of the steps and most of the time, so a bar
    counting steps would promise far too little time left. The step count goes in the postfix.
    The bar appears with the first step, so an error while loading inputs prints only itself.
    """

    WORK_UNITS = 1000

    def __init__(self, unit: str = "step") -> None:
        self.unit = unit
        self.bar: Any = None
        self.by_work = False

    def __call__(self, event: Progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.by_work = event.progress > 0
            if self.by_work:
                self.bar = tqdm(
                    total=self.WORK_UNITS, dynamic_ncols=True, file=sys.stderr, smoothing=0,
                    bar_format="{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
                )
            else:
                self.bar = tqdm(total=event.total or None, unit=self.unit, dynamic_ncols=True, file=sys.stderr)
        postfix = {event.stage or self.unit: f"{event.step}/{event.total}"} if self.by_work else {}
        if event.loss is not None:
            postfix.update({"loss": f"{event.loss:.4g}", **{k: f"{v:.3g}" for k, v in event.terms.items()}})
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        done = round(event.progress * self.WORK_UNITS) if self.by_work else event.step
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class FileProgress:
    """A bar over the files of a folder (made on the first file, so an early error is not preceded
    by an empty bar) and one warning line per skipped file, printed above it."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", dynamic_ncols=True, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def warn(self, message: str) -> None:
        line = f"painterly: warning: skipped {message}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a run like Ctrl-C does: the engine stops and the best image so far is kept."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def file_run(quiet: bool) -> Iterator[FileProgress]:
    """:func:`progress_run` for work over the files of a folder: the bar counts files and prints
    one warning line per skipped file."""
    bar = FileProgress(quiet)
    try:
        with sigterm_as_interrupt():
            yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def progress_run(quiet: bool, unit: str = "step") -> Iterator[list[Callable[[Any], None]]]:
    """The one way a command runs long work: the progress bar (none when ``quiet``) as the
    callbacks to hand the library, SIGTERM treated as Ctrl-C, and the bar closed however the run
    ends, so the command's last line is never drawn over. The command then reports an interrupted
    run (the library returns what it has) and exits with EXIT_INTERRUPTED."""
    bar = None if quiet else ProgressBar(unit)
    try:
        with sigterm_as_interrupt():
            yield [bar] if bar else []
    finally:
        if bar:
            bar.close()

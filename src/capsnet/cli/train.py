"""`capsnet train`: train a CapsNet (or the baseline CNN) on single digits or clothes."""

from __future__ import annotations

import argparse

from .common import Subparsers, add_training_options, train_command


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a capsule network (or --model baseline) and print its test accuracy",
        description="Train on the training split of --data, checkpoint OUTPUT after every epoch (Ctrl-C "
        "keeps the last step's state; --resume continues it), then evaluate on the test split.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_training_options(parser)
    parser.set_defaults(handler=lambda args: train_command(args, "single"))

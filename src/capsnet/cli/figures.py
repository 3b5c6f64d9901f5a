"""`capsnet perturb` and `capsnet reconstruct`: the paper's Fig. 4 and Fig. 3 from a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..checkpoint import check_architecture, read_checkpoint
from ..data import load_data
from ..errors import SettingError
from ..figures import perturbation_sheet, reconstruction_sheet
from ..model import CapsNet
from ..train import load_capsnet
from .common import DATA_HELP, Subparsers, check_png_output, save_png


def register(subparsers: Subparsers) -> None:
    for name, handler, help, count in (
        ("perturb", run_perturb, "the dimension-perturbation sheet: each of the 16 dimensions moved by -0.25…0.25 and decoded", 3),
        ("reconstruct", run_reconstruct, "test digits and their reconstructions from the longest capsule", 10),
    ):
        parser = subparsers.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        parser.add_argument("checkpoint", help="a CapsNet checkpoint written by `capsnet train`")
        parser.add_argument("-o", "--output", required=True, help="the PNG to write")
        parser.add_argument("--data", default=None, help=DATA_HELP + " (default: the checkpoint's)")
        parser.add_argument("--count", type=int, default=count, help="how many test images")
        parser.add_argument("--first", type=int, default=0, help="index of the first test image")
        parser.set_defaults(handler=handler)


def _inputs(args: argparse.Namespace) -> tuple[CapsNet, torch.Tensor, torch.Tensor, Path]:
    path, output = Path(args.checkpoint), Path(args.output)
    check_png_output(output, path)
    if args.count < 1 or args.first < 0:
        raise SettingError("count: must be at least 1, and first at least 0")
    state = read_checkpoint(path)
    check_architecture(state, path, kind="capsnet", image_size=28)
    data = load_data(args.data or state["data"])
    test = data.test
    if args.first + args.count > len(test):
        raise SettingError(f"first/count: the test split of {data.name} has {len(test)} images")
    index = torch.arange(args.first, args.first + args.count)
    return load_capsnet(state), test.images[index].unsqueeze(1).float() / 255.0, test.labels[index], output


def run_perturb(args: argparse.Namespace) -> int:
    model, images, _, output = _inputs(args)
    save_png(perturbation_sheet(model, images), output)
    print(f"wrote {output}")
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    model, images, labels, output = _inputs(args)
    save_png(reconstruction_sheet(model, images, labels), output)
    print(f"wrote {output}")
    return 0

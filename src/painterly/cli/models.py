"""`painterly models [NAME]`: the backbones, their layers and where their weights come from."""

from __future__ import annotations

import argparse

from .common import Subparsers


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the backbones, their layers and where their weights come from")
    parser.add_argument("name", nargs="?", help="show every layer of this backbone with channels, stride and receptive field")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..backbones import get_spec, list_backbones

    if args.name:
        spec = get_spec(args.name)
        print(f"{spec.name}: {spec.description}")
        print(f"{'layer':<12} {'channels':>8} {'stride':>6} {'receptive field':>16}")
        for info in spec.layer_info().values():
            print(f"{info.name:<12} {info.channels:>8} {info.stride:>6} {info.receptive_field:>16}")
        return 0
    for i, spec in enumerate(list_backbones()):
        offline = "yes" if spec.weights_available() else f"no ({spec.when_missing})"
        default = " (default)" if i == 0 else ""
        print(f"{spec.name}{default}: {spec.description}")
        print(f"  weights: {spec.weights.source}; licence: {spec.weights.licence}; available offline: {offline}")
        names = spec.layer_names()
        print(f"  layers ({len(names)}): {', '.join(names)}")
    return 0

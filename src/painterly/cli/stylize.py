"""`painterly stylize CONTENT STYLE [STYLE ...] -o OUT`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..params import INITS, MAX_STEPS, StyleParams

if TYPE_CHECKING:
    from torch import Tensor
from .common import EXIT_INTERRUPTED, Subparsers, add_dataclass_options, dataclass_from_args, in_range, progress_run


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "stylize",
        help="paint a content image in the style of one or more style images",
        description="Paint CONTENT in the style of STYLE (several styles are blended).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("content", help="the photo to repaint")
    parser.add_argument("styles", nargs="+", metavar="style", help="one or more artworks")
    parser.add_argument("-o", "--output", required=True, help="output file (.png, .jpg, .webp, .tif)")
    parser.add_argument(
        "--masks", nargs="+", metavar="MASK",
        help="one mask image per style: white where that style goes, black where not, grey to blend; "
        "where no mask is white the photo stays",
    )
    add_dataclass_options(parser, StyleParams)
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="bits per channel (16: PNG/TIFF)")
    parser.add_argument("--save-every", type=in_range(int, "--save-every", (0, MAX_STEPS)), default=0, metavar="N", help="also write OUT_NNNN snapshots every N steps (0: off)")
    parser.add_argument("--early-stop", type=in_range(int, "--early-stop", (0, MAX_STEPS)), default=0, metavar="N", help="stop when the loss has not improved for N steps (0: off)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so `painterly --help` stays quick.
    from ..callbacks import EarlyStopping, EveryNSteps
    from ..engine import Callback
    from ..io import check_output_path, save_image
    from ..outputs import check_outputs
    from ..style_transfer import stylize

    params = dataclass_from_args(StyleParams, args).validate()
    init_image = [] if params.init in INITS else [params.init]
    inputs = [args.content, *args.styles, *(args.masks or []), *init_image]
    output = Path(args.output)
    # Refuse a bad output path before spending a minute on the picture.
    check_output_path(output, bit_depth=args.bit_depth, protect=inputs)
    check_outputs([output], inputs)

    def save(image: Tensor, path: Path) -> None:
        save_image(image, path, bit_depth=args.bit_depth, protect=inputs)

    callbacks: list[Callback] = []
    if args.save_every > 0:
        callbacks.append(EveryNSteps(args.save_every, lambda e: save(e.image(), snapshot_path(output, e.step))))
    if args.early_stop > 0:
        callbacks.append(EarlyStopping(patience=args.early_stop))

    with progress_run(args.quiet) as bar:
        result = stylize(args.content, args.styles, params, callbacks=[*bar, *callbacks], masks=args.masks)
    save(result.image, output)
    h, w = result.image.shape[-2:]
    if result.stopped == "interrupted":
        print(f"interrupted after {result.steps} steps; wrote the best image so far to {output}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {output} ({w}x{h} px, {result.steps} steps, {result.elapsed:.1f} s)", file=sys.stderr)
    return 0


def snapshot_path(output: Path, step: int) -> Path:
    return output.with_name(f"{output.stem}_{step:04d}{output.suffix}")

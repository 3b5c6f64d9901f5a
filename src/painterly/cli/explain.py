"""`painterly explain units|invert|dream`: see what the network sees."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..explain.defaults import DREAM_LAYER, UNITS_LAYER, DreamSettings, InvertSettings, UnitsSettings

if TYPE_CHECKING:
    from ..explain.units import UnitPatches
from .common import EXIT_INTERRUPTED, Subparsers, add_dataclass_options, file_run, progress_run


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the None of options whose help says what happens without them."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="see what the network sees: top patches of units, reconstructions, DeepDream",
        description="Tools to understand a backbone. Layer names: `painterly models NAME`.",
    )
    parser.set_defaults(handler=lambda args: _usage(parser))
    commands = parser.add_subparsers(dest="explain_command", metavar="TOOL")
    _register_units(commands)
    _register_invert(commands)
    _register_dream(commands)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _common(parser: argparse.ArgumentParser, settings: type) -> None:
    """The tool's settings (explain/defaults.py) as options, then the output and quiet flags."""
    add_dataclass_options(parser, settings, check_ranges=True)
    parser.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp, .tif)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _register_units(commands: Subparsers) -> None:
    p = commands.add_parser(
        "units",
        help="the 9 image patches of a folder that excite each unit of a layer most",
        description="Run every image of a folder (recursively) through the backbone and show, for "
        "each unit of LAYER, the patches (receptive fields) that excite it most (Zeiler & Fergus 2013). "
        "Each image gives at most one patch per unit.",
        formatter_class=_Formatter,
    )
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images")
    p.add_argument("--units", help="comma-separated unit numbers, e.g. 3,17,42 (default: the "
                   "--num-units units with the highest peak activation)")
    p.add_argument("--metadata", metavar="JSON", help="also write the patches' sources and boxes to this file")
    _common(p, UnitsSettings)
    p.set_defaults(handler=run_units)


def _register_invert(commands: Subparsers) -> None:
    p = commands.add_parser(
        "invert",
        help="reconstruct an image from one layer's content and from growing sets of style layers",
        description="Gatys et al. (2015) Fig. 1: from noise, optimise images that match IMAGE's "
        "features at one layer (top row, shallow to deep) and its Gram matrices at the first 1, 2, … "
        "layers (bottom row). One labelled contact sheet.",
        formatter_class=_Formatter,
    )
    p.add_argument("image", help="the photo to reconstruct")
    p.add_argument("--style-image", help="reconstruct the style of this image instead (bottom row)")
    p.add_argument("--content-layers", help="comma-separated layers for the top row "
                   "(default: stem,b1.dw,b3.dw,b5.dw,b11.dw; VGG: relu1_2 … relu5_2)")
    p.add_argument("--style-layers", help="comma-separated layers, added one at a time for the "
                   "bottom row (default: as content; VGG: relu1_1 … relu5_1)")
    _common(p, InvertSettings)
    p.set_defaults(handler=run_invert)


def _register_dream(commands: Subparsers) -> None:
    p = commands.add_parser(
        "dream",
        help="DeepDream: amplify what a layer (or one unit) sees in an image",
        description="Gradient ascent on the mean square of a layer's (or a unit's) activation, "
        "over several octaves, with random jitter and normalised gradients.",
        formatter_class=_Formatter,
    )
    p.add_argument("image", help="the photo to dream on")
    _common(p, DreamSettings)
    p.set_defaults(handler=run_dream)


def _layer_list(spec: str | None, what: str) -> list[str] | None:
    from ..errors import ParameterError

    if spec is None:
        return None
    layers = [s.strip() for s in spec.split(",") if s.strip()]
    if not layers:
        raise ParameterError(f"{what}: give at least one layer name")
    return layers


def _default_layer(layer: str | None, model: str, table: dict[str, str]) -> str:
    from ..backbones import get_spec
    from ..errors import ParameterError

    get_spec(model)  # an unknown model gets its own did-you-mean line
    if layer:
        return layer
    if model in table:
        return table[model]
    raise ParameterError(f"--layer: no default layer for {model}; name one (see `painterly models {model}`)")


def _check_memory(image: str, size: int, model: str) -> None:
    """Refuse a --size whose optimisation cannot fit in RAM, from the image's header alone."""
    from ..io import image_size, long_side_shape
    from ..memory import check_fits, optimised_image_bytes

    w, h = image_size(image)
    out_h, out_w = long_side_shape((h, w), size)
    check_fits(optimised_image_bytes(out_h * out_w, model), f"--size {size}")


def run_units(args: argparse.Namespace) -> int:
    from ..explain import top_patches
    from ..explain.sheet import check_display_size
    from ..explain.units import parse_units
    from ..io import check_output_path, save_image
    from ..outputs import check_outputs

    output = Path(args.output)
    check_output_path(output)
    outputs = [output] + ([Path(args.metadata)] if args.metadata else [])
    # Every file under --images is an input: neither the sheet nor the metadata may replace one.
    check_outputs(outputs, [args.images] if Path(args.images).is_dir() else [])
    check_display_size(args.tile, "--tile")  # before the folder is read, not after
    from ..memory import check_fits, forward_bytes

    # Images of the folder are scaled to --size on their long side: count them as squares.
    check_fits(forward_bytes(args.size**2, args.batch_size or 1, args.model), f"--size {args.size}")
    units = parse_units(args.units) if args.units else args.num_units
    with file_run(args.quiet) as progress:
        result = top_patches(
            args.images, _default_layer(args.layer, args.model, UNITS_LAYER), model=args.model,
            units=units, k=args.top, size=args.size, batch_size=args.batch_size,
            device=args.device, progress=progress, warn=progress.warn,
        )
    save_image(result.sheet(tile=args.tile), output, protect=[args.images])
    if args.metadata:
        _write_metadata(result, Path(args.metadata))
    if not args.quiet:
        print(f"wrote {output} ({len(result.units)} units of {result.layer}, {result.images_seen} images, "
              f"{len(result.skipped)} skipped)", file=sys.stderr)
    return 0


def _write_metadata(result: UnitPatches, path: Path) -> None:
    from ..outputs import write_atomically

    data = {
        "model": result.model, "layer": result.layer, "images_seen": result.images_seen,
        "receptive_field": result.info.receptive_field, "stride": result.info.stride,
        "units": [
            {"unit": u, "peak": float(result.peaks[u]), "patches": [
                {"rank": p.rank, "activation": p.activation, "source": p.source,
                 "position": list(p.position), "box_top_left_bottom_right": list(p.box),
                 "image_size": list(p.image_size)}
                for p in result.patches[u]]}
            for u in result.units
        ],
    }
    write_atomically(path, json.dumps(data, indent=1).encode(), what="metadata")


def run_invert(args: argparse.Namespace) -> int:
    from ..explain import invert
    from ..explain.sheet import check_display_size
    from ..io import check_output_path, save_image
    from ..outputs import check_outputs

    output = Path(args.output)
    inputs = [args.image] + ([args.style_image] if args.style_image else [])
    check_output_path(output, protect=inputs)
    check_outputs([output], inputs)
    _check_memory(args.image, args.size, args.model)
    check_display_size(args.cell, "--cell", 16)
    content_layers = _layer_list(args.content_layers, "--content-layers")
    style_layers = _layer_list(args.style_layers, "--style-layers")
    with progress_run(args.quiet) as bar:
        result = invert(
            args.image, style_image=args.style_image, model=args.model, size=args.size,
            content_layers=content_layers, style_layers=style_layers, iterations=args.iterations,
            optimizer=args.optimizer, tv_weight=args.tv_weight, seed=args.seed, device=args.device, callbacks=bar,
        )
    save_image(result.sheet(cell=args.cell), output, protect=inputs)
    if result.stopped == "interrupted":
        print(f"interrupted; wrote the reconstructions finished so far to {output}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {output} ({len(result.content)} content and {len(result.style)} style "
              f"reconstructions, {result.elapsed:.1f} s)", file=sys.stderr)
    return 0


def run_dream(args: argparse.Namespace) -> int:
    from ..explain import dream
    from ..io import check_output_path, save_image
    from ..outputs import check_outputs

    output = Path(args.output)
    check_output_path(output, protect=[args.image])
    check_outputs([output], [args.image])
    _check_memory(args.image, args.size, args.model)
    layer = _default_layer(args.layer, args.model, DREAM_LAYER)
    with progress_run(args.quiet) as bar:
        result = dream(
            args.image, layer, unit=args.unit, model=args.model, size=args.size,
            octaves=args.octaves, octave_scale=args.octave_scale, steps=args.steps,
            strength=args.strength, jitter=args.jitter, seed=args.seed, device=args.device, callbacks=bar,
        )
    save_image(result.image, output, protect=[args.image])
    if result.stopped == "interrupted":
        print(f"interrupted after {result.steps} steps; wrote the image so far to {output}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        what = f"unit {args.unit} of {layer}" if args.unit is not None else layer
        print(f"wrote {output} ({what}: mean square activation {result.start_score:.3g} -> "
              f"{result.score:.3g}, {result.elapsed:.1f} s)", file=sys.stderr)
    return 0

"""`painterly fast train|apply|export|list`: feed-forward styles, trained once, applied in a blink."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fast.settings import SMOOTHING
from ..images import FORMAT_CHOICES
from ..params import DEVICES, PRESERVE_COLORS

if TYPE_CHECKING:
    from torch import Tensor

    from ..fast.folders import Job
from .common import (
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
    Subparsers,
    add_dataclass_options,
    dataclass_from_args,
    in_range,
    progress_run,
    sigterm_as_interrupt,
)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "fast", help="train a style network once, then apply it to photos, folders and videos in a blink",
        description="Feed-forward styles (Johnson et al. 2016): `train` once per style, then `apply`.",
    )
    commands = parser.add_subparsers(dest="fast_command", metavar="COMMAND")
    _register_train(commands)
    _register_apply(commands)
    _register_export(commands)
    _register_list(commands)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _ranged(kind: type, dest: str, also: tuple = ()) -> Callable[[str], Any]:
    from ..fast.settings import APPLY_RANGES

    return in_range(kind, "--" + dest.replace("_", "-"), APPLY_RANGES[dest], also=also)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# -- train ------------------------------------------------------------------------------------


def _register_train(commands: Subparsers) -> None:
    from ..fast.settings import TrainSettings

    parser = commands.add_parser(
        "train", help="train a network for one style on a folder of photos",
        description="Train a network that paints any photo in the style of STYLE, on random crops of "
        "the photos in --images. Writes OUT (a .painterly file), OUT's .ckpt checkpoint and a preview.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("style", help="the artwork")
    parser.add_argument("--images", required=True, metavar="DIR", help="folder of photos to train on (searched recursively)")
    parser.add_argument("-o", "--output", required=True, help="the style file to write (NAME.painterly)")
    parser.add_argument("--name", help="the style's display name (default: OUT's file name)")
    add_dataclass_options(parser, TrainSettings)
    parser.add_argument("--preview-every", type=in_range(int, "--preview-every", (0, 10**6)), default=100, metavar="N", help="write OUT.preview.png every N steps (0: off)")
    parser.add_argument("--checkpoint-every", type=in_range(int, "--checkpoint-every", (0, 10**6)), default=100, metavar="N", help="write the resumable OUT.ckpt every N steps")
    parser.add_argument("--resume", action="store_true", help="continue from OUT.ckpt (same options; --steps may grow)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ..callbacks import EveryNSteps
    from ..errors import ParameterError
    from ..fast.model_file import (
        SUFFIX,
        checkpoint_to_bytes,
        read_checkpoint,
        style_to_bytes,
    )
    from ..fast.settings import TrainSettings
    from ..fast.train import Trainer, load_photos
    from ..images import image_files
    from ..io import load_image, save_bytes, save_image
    from ..outputs import check_outputs

    settings = dataclass_from_args(TrainSettings, args).validate()
    output = Path(args.output)
    if output.suffix != SUFFIX:
        raise ParameterError(f"output: {output} should end in {SUFFIX}")
    checkpoint_path = output.with_name(output.name + ".ckpt")
    preview_path = output.with_name(output.stem + ".preview.png")
    folder = Path(args.images)
    if not folder.is_dir():
        raise ParameterError(f"images: {folder} is not a folder")
    paths = image_files(folder)
    if not paths:
        raise ParameterError(f"images: no image files in {folder}")
    # The network, its checkpoint and its preview must not replace the artwork or a photo.
    check_outputs([output, checkpoint_path, preview_path], [args.style, *paths])
    style_image = load_image(args.style)
    photos, skipped = load_photos([str(p) for p in paths])
    for _path, reason in skipped:
        print(f"painterly: warning: skipping {reason}", file=sys.stderr)
    trainer = Trainer(style_image, photos, settings, style_name=args.name or output.stem)
    if args.resume:
        if not checkpoint_path.exists():
            raise ParameterError(f"resume: no checkpoint {checkpoint_path} to resume from")
        trainer.resume(read_checkpoint(checkpoint_path))

    def checkpoint(_event: object = None) -> None:
        save_bytes(checkpoint_to_bytes(trainer.checkpoint()), checkpoint_path, protect=[args.style])

    callbacks: list = []
    if args.preview_every > 0:
        callbacks.append(EveryNSteps(args.preview_every, lambda e: save_image(e.preview(), preview_path, protect=[args.style])))  # type: ignore[attr-defined]  # a TrainEvent
    if args.checkpoint_every > 0:
        callbacks.append(EveryNSteps(args.checkpoint_every, checkpoint))
    with progress_run(args.quiet) as bar:
        stopped = trainer.run([*bar, *callbacks])
    checkpoint()
    info = {"style_file": Path(args.style).name, "photos": len(photos)}
    save_bytes(style_to_bytes(trainer.style(info)), output, protect=[args.style, *paths])
    if stopped == "interrupted":
        print(
            f"interrupted at step {trainer.step}: wrote the network so far to {output}; "
            f"continue with --resume (checkpoint {checkpoint_path})", file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {output} ({trainer.step} steps, {trainer.elapsed / 60:.1f} min)", file=sys.stderr)
    return 0


# -- apply ------------------------------------------------------------------------------------


def _register_apply(commands: Subparsers) -> None:
    from ..fast.apply import RUNTIMES

    parser = commands.add_parser(
        "apply", help="paint photos, folders or videos with a trained style",
        description="Apply MODEL (a shipped style name, see `painterly fast list`, or a .painterly file) "
        "to images, folders (the tree is mirrored under OUT; finished files are skipped) and videos.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", help="style name or .painterly file")
    parser.add_argument("inputs", nargs="+", metavar="input", help="images, folders or videos")
    parser.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    parser.add_argument("--strength", type=_ranged(float, "strength"), default=1.0, help="0 keeps the photo, 1 is the full style")
    parser.add_argument("--preserve-colors", default="none", choices=PRESERVE_COLORS, help="keep the photo's colours")
    parser.add_argument("--size", type=_ranged(int, "size", also=(0,)), default=0, help="scale inputs to this long side first (0: as they are)")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES, help="auto: ONNX Runtime on a CPU (faster there), PyTorch on a GPU")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="device of the torch runtime")
    parser.add_argument("--tile-size", type=_ranged(int, "tile_size"), default=2048, help="larger images are painted in overlapping tiles")
    parser.add_argument("--smoothing", type=_ranged(float, "smoothing"), default=SMOOTHING, help="videos: 0 off … 0.9 strong flicker reduction")
    parser.add_argument("--format", default=None, choices=FORMAT_CHOICES, help="suffix of images written into a folder (default: keep the input's)")
    parser.add_argument("--overwrite", action="store_true", help="redo files whose output already exists")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.set_defaults(handler=run_apply)


def run_apply(args: argparse.Namespace) -> int:
    from ..errors import PainterlyError, ParameterError
    from ..fast.apply import FastStylizer
    from ..fast.folders import plan_jobs
    from ..fast.library import find_style
    from ..fast.video import VIDEO_SUFFIXES, TemporalSmoother, is_video
    from ..images import MIN_SIDE
    from ..outputs import check_outputs

    if args.size and args.size < MIN_SIDE:
        raise ParameterError(f"size: {args.size} is below the minimum {MIN_SIDE}", field="size")
    TemporalSmoother(args.smoothing)  # checks the value before any file is touched
    style = find_style(args.model)
    jobs = plan_jobs(args.inputs, args.output, args.format)
    single = len(jobs) == 1 and Path(args.inputs[0]).is_file()
    for job in jobs:
        if job.is_video and not is_video(job.target):
            raise ParameterError(f"{job.target}: a video is written as {', '.join(VIDEO_SUFFIXES)}; {job.source} is a video")
    model_file = [args.model] if Path(args.model).is_file() else []
    # Also removes the temporaries a killed earlier run left in these folders.
    check_outputs([job.target for job in jobs if not job.done or args.overwrite or single], [*model_file, *args.inputs])
    if single and not jobs[0].is_video:
        _painted_shape(jobs[0].source, args)  # a thin strip or a huge size: refused before the model loads
    paint = FastStylizer(
        style, runtime=args.runtime, device=args.device, strength=args.strength,
        preserve_colors=args.preserve_colors, tile_size=args.tile_size,
    )
    counts = {"written": 0, "skipped": 0, "failed": 0}
    for job in jobs:
        if job.done and not args.overwrite and not single:
            counts["skipped"] += 1
            continue
        try:
            with sigterm_as_interrupt():
                _apply_one(paint, job, args)
            counts["written"] += 1
        except PainterlyError as err:
            if single:
                raise
            counts["failed"] += 1
            print(f"painterly: warning: {err}", file=sys.stderr)
    if not args.quiet and not single:
        print(f"{counts['written']} written, {counts['skipped']} already done, {counts['failed']} failed -> {args.output}", file=sys.stderr)
    return EXIT_SOME_FAILED if counts["failed"] else 0


def _apply_one(paint: Callable[[Tensor], Tensor], job: Job, args: argparse.Namespace) -> None:
    import time

    from ..fast.apply import output_shape
    from ..fast.video import stylize_video
    from ..io import load_image, resize_to, save_image
    from ..outputs import prepare_directory

    start = time.perf_counter()
    if job.is_video:
        prepare_directory(job.target)
        with progress_run(args.quiet, unit="frame") as bar:
            frames = stylize_video(job.source, job.target, paint, size=args.size, smoothing=args.smoothing,
                                   on_progress=bar[0] if bar else None,
                                   check_shape=lambda hw: output_shape(hw, args.size, args.tile_size, str(job.source)))
        detail = f"{frames} frames"
    else:
        shape = _painted_shape(job.source, args)
        image = load_image(job.source)
        if tuple(image.shape[-2:]) != shape:
            image = resize_to(image, shape)
        save_image(paint(image), job.target, protect=[job.source])
        h, w = image.shape[-2:]
        detail = f"{w}x{h} px"
    if not args.quiet:
        print(f"wrote {job.target} ({detail}, {time.perf_counter() - start:.2f} s)", file=sys.stderr)


def _painted_shape(source: Path, args: argparse.Namespace) -> tuple[int, int]:
    """The (height, width) an image will be painted at, checked from its header alone."""
    from ..fast.apply import output_shape
    from ..io import image_size

    w, h = image_size(source)
    return output_shape((h, w), args.size, args.tile_size, str(source))


# -- export, list -----------------------------------------------------------------------------


def _register_export(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "export", help="write a style as an ONNX model",
        description="Write MODEL as ONNX (opset 17). Its input is a (1,3,H,W) float image in [0,1], "
        "reflection-padded by 16 px and then up to multiples of 8; crop the output the same way.",
    )
    parser.add_argument("model", help="style name or .painterly file")
    parser.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from ..errors import ParameterError
    from ..fast.library import find_style
    from ..fast.onnx_export import onnx_bytes
    from ..io import save_bytes
    from ..outputs import check_outputs

    output = Path(args.output)
    if output.suffix.lower() != ".onnx":
        raise ParameterError(f"output: {output} should end in .onnx")
    check_outputs([output], [args.model] if Path(args.model).is_file() else [])
    style = find_style(args.model)
    save_bytes(onnx_bytes(style), output, protect=[args.model], what="ONNX model")
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _register_list(commands: Subparsers) -> None:
    parser = commands.add_parser("list", help="list the styles shipped with painterly")
    parser.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    from ..fast.library import shipped_styles
    from ..fast.model_file import load_style

    for name, path in shipped_styles().items():
        info = load_style(path).info
        trained = f"{info.get('steps', '?')} steps, {info.get('seconds', 0) / 60:.0f} min" if info else ""
        print(f"{name:20s} {info.get('style_file', '')}  ({trained})")
    return 0

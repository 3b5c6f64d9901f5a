"""`painterly fast train|apply|export|list`: feed-forward styles, trained once, applied in a blink."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fast.settings import SMOOTHING
from ..images import FORMAT_CHOICES

if TYPE_CHECKING:

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
    from ..fast.model_file import checkpoint_to_bytes, read_checkpoint, style_to_bytes
    from ..fast.settings import SUFFIX, TrainSettings
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
        # The teacher's pictures first (minutes: `stylize` on every photo), on the same bar.
        stopped = trainer.teach(bar)
        if stopped != "interrupted":
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
    from ..fast.settings import SMOOTHING_RANGE, ApplySettings

    parser = commands.add_parser(
        "apply", help="paint photos, folders or videos with a trained style",
        description="Apply MODEL (a shipped style name, see `painterly fast list`, or a .painterly file) "
        "to images, folders (the tree is mirrored under OUT; finished files are skipped) and videos.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", help="style name or .painterly file")
    parser.add_argument("inputs", nargs="+", metavar="input", help="images, folders or videos")
    parser.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    add_dataclass_options(parser, ApplySettings, check_ranges=True)  # the picture options, shared with `batch`
    parser.add_argument("--smoothing", type=in_range(float, "--smoothing", SMOOTHING_RANGE), default=SMOOTHING,
                        help="videos: 0 off … 0.9 strong flicker reduction")
    parser.add_argument("--format", default=None, choices=FORMAT_CHOICES, help="suffix of images written into a folder (default: keep the input's)")
    parser.add_argument("--overwrite", action="store_true", help="redo files whose output already exists")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.set_defaults(handler=run_apply, needs_torch=False)


def run_apply(args: argparse.Namespace) -> int:
    # Imports nothing that imports torch until a job needs it: on a CPU the images are painted
    # by ONNX Runtime from a cached graph, and importing torch would take longer than painting.
    from ..errors import PainterlyError, ParameterError
    from ..fast.folders import VIDEO_SUFFIXES, is_video, plan_jobs
    from ..outputs import check_outputs

    # --size and --smoothing were range-checked by the parser (ApplySettings' and SMOOTHING_RANGE).
    paint = _Painters(args)
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
    paint.load()
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


class _Painters:
    """The style, as ONNX Runtime without torch (images on a CPU) and as FastStylizer (videos,
    tiles, colour preservation, a GPU), each loaded when first needed."""

    def __init__(self, args: argparse.Namespace):
        import importlib.util

        from ..fast.library import style_file

        self.args = args
        self.file = style_file(args.model)  # an unknown name is refused here, before any work
        self.torch_free = (
            args.runtime in ("auto", "onnx") and args.device in ("auto", "cpu") and args.preserve_colors == "none"
            and importlib.util.find_spec("onnxruntime") is not None
        )
        self._onnx: Any = None
        self._torch: Any = None
        self._threads = 0  # 0: ONNX Runtime's own choice, until load() plans them

    def load(self) -> None:
        """Plan the threads (the busy-core probe has had the imports to finish) and read and check
        the style file now, before the first job."""
        from .startup import configure_threads

        self._threads = configure_threads(self.args.threads)
        if self.torch_free:
            self.onnx()
        else:
            self.torch()

    def onnx(self) -> Any:
        if self._onnx is None:
            from ..fast.onnx_apply import OnnxPainter, style_session

            session = style_session(self.file, _onnx_cache_dir(), self._threads)
            self._onnx = OnnxPainter(session, strength=self.args.strength)
        return self._onnx

    def torch(self) -> Any:
        if self._torch is None:
            from ..fast.apply import FastStylizer
            from .startup import load_torch

            load_torch()  # with the threads load() planned
            from ..fast.model_file import load_style

            a = self.args
            self._torch = FastStylizer(
                load_style(self.file), runtime=a.runtime, device=a.device, strength=a.strength,
                preserve_colors=a.preserve_colors, tile_size=a.tile_size,
            )
        return self._torch


def _onnx_cache_dir() -> Path | None:
    """Where exported ONNX graphs are kept: $PAINTERLY_CACHE (empty: no cache), else the user's
    cache folder ($XDG_CACHE_HOME or ~/.cache) /painterly/fast."""
    import os

    if "PAINTERLY_CACHE" in os.environ:
        value = os.environ["PAINTERLY_CACHE"]
        return Path(value) / "fast" if value else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "painterly" / "fast"


def _apply_one(paint: _Painters, job: Job, args: argparse.Namespace) -> None:
    import time

    from ..outputs import prepare_directory

    start = time.perf_counter()
    shape = None if job.is_video else _painted_shape(job.source, args)
    if shape is not None and paint.torch_free and max(shape) <= args.tile_size:
        from ..fast.onnx_apply import resize_array
        from ..io import load_array, save_array

        image = resize_array(load_array(job.source), shape)
        save_array(paint.onnx()(image), job.target, protect=[job.source])
        detail = f"{shape[1]}x{shape[0]} px"
    elif job.is_video:
        from ..fast.padding import output_shape
        from ..fast.video import stylize_video

        prepare_directory(job.target)
        with progress_run(args.quiet, unit="frame") as bar:
            frames = stylize_video(job.source, job.target, paint.torch(), size=args.size, smoothing=args.smoothing,
                                   on_progress=bar[0] if bar else None,
                                   check_shape=lambda hw: output_shape(hw, args.size, args.tile_size, str(job.source)))
        detail = f"{frames} frames"
    else:
        from ..io import load_image, resize_to, save_image

        assert shape is not None  # not a video
        tensor = load_image(job.source)
        if tuple(tensor.shape[-2:]) != shape:
            tensor = resize_to(tensor, shape)
        save_image(paint.torch()(tensor), job.target, protect=[job.source])
        h, w = tensor.shape[-2:]
        detail = f"{w}x{h} px"
    if not args.quiet:
        print(f"wrote {job.target} ({detail}, {time.perf_counter() - start:.2f} s)", file=sys.stderr)


def _painted_shape(source: Path, args: argparse.Namespace) -> tuple[int, int]:
    """The (height, width) an image will be painted at, checked from its header alone."""
    from ..fast.padding import output_shape
    from ..io import image_size

    w, h = image_size(source)
    return output_shape((h, w), args.size, args.tile_size, str(source))


# -- export, list -----------------------------------------------------------------------------


def _register_export(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "export", help="write a style as an ONNX model",
        description="Write MODEL as ONNX (opset 17). Its input is a (1,3,H,W) float image in [0,1], "
        "reflection-padded by 8 px and then, on the bottom and right, up to multiples of 8; crop the "
        "output the same way.",
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

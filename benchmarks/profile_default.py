"""Where the time of a default `painterly stylize` goes (a benchmark, not a test).

Prints, from one process: importing painterly and torch, loading the backbone, reading the images,
each pyramid level (its style targets and its steps), and for the finest level the share of one
step spent in the network's forward pass, the losses, the backward pass and the optimizer.
Also one VGG-19 forward+backward at the same size (random weights: same cost, no download), the
unit the issue's targets are written in.

    python benchmarks/profile_default.py [--size 512] [--set field=value ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

START = time.perf_counter()
import torch  # noqa: E402

from painterly import StyleParams, create_backbone, style_transfer, stylize  # noqa: E402
from painterly.allocator import tune_malloc  # noqa: E402
from painterly.io import load_image, resize_long_side  # noqa: E402

IMPORTED = time.perf_counter()
CONTENT, STYLE = "examples/figures.jpg", "examples/starry_night.jpg"


def vgg_step(size: int, repeats: int = 3) -> float:
    net = create_backbone("vgg19", load_weights=False)
    layers = list({**net.default_content_layers, **net.default_style_layers})
    image = resize_long_side(load_image(CONTENT), size).requires_grad_(True)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        feats = net(image, layers)
        sum(f.pow(2).mean() for f in feats.values()).backward()
        image.grad = None
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def step_breakdown(params: StyleParams, net, steps: int = 8) -> dict[str, float]:
    """Seconds per step of the finest level's parts, timed one after another in a manual loop."""
    content = resize_long_side(load_image(CONTENT), params.size)
    style = resize_long_side(load_image(STYLE), params.size)
    content_layers, style_layers = net.default_content_layers, net.default_style_layers
    grams, colors, quantiles = style_transfer._style_statistics(net, [style], params, style_layers)
    targets = style_transfer._Targets(grams, colors, quantiles, [1.0], content_layers, style_layers)
    objective = style_transfer._build_objective(net, content, targets, params)
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=10)
    parts: dict[str, list[float]] = {"forward": [], "objective (losses)": [], "backward": [], "optimizer": []}
    for _ in range(steps):
        t0 = time.perf_counter()
        net(image, layers)  # the forward pass alone
        t1 = time.perf_counter()
        loss, _ = objective(image)  # forward + losses
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()

        def closure():
            return loss  # noqa: B023 -- called at once, inside this iteration

        optimizer.step(closure)
        image.grad = None
        t4 = time.perf_counter()
        parts["forward"].append(t1 - t0)
        parts["objective (losses)"].append((t2 - t1) - (t1 - t0))
        parts["backward"].append(t3 - t2)
        parts["optimizer"].append(t4 - t3)
    return {k: statistics.median(v[1:]) for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    tune_malloc()
    params = StyleParams(size=args.size)
    for item in args.set:
        name, _, value = item.partition("=")
        params = params.replace(**{name: type(getattr(params, name))(value)})
    cli_import = subprocess.run(
        [sys.executable, "-c", "import time; t=time.perf_counter(); import painterly.cli, torch; print(time.perf_counter()-t)"],
        capture_output=True, text=True, check=True,
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size} px")
    print(f"import painterly + torch (fresh process): {float(cli_import.stdout):.2f} s")
    t = time.perf_counter()
    net = create_backbone(params.model)
    print(f"load backbone:                            {time.perf_counter() - t:.2f} s")

    stamps: list[tuple[int, int, float]] = []
    t = time.perf_counter()
    stylize(CONTENT, STYLE, params, backbone=net,
            callbacks=[lambda e: stamps.append((e.level, e.size[0] * e.size[1], time.perf_counter()))])
    total = time.perf_counter() - t
    print(f"stylize (inputs, targets, all levels):    {total:.2f} s")
    previous = t
    for level in sorted({s[0] for s in stamps}):
        mine = [s for s in stamps if s[0] == level]
        first_step_at = mine[0][2]
        per_step = (mine[-1][2] - first_step_at) / max(1, len(mine) - 1)
        setup = first_step_at - previous - per_step
        print(f"  level {level}: {mine[0][1]:7d} px  setup+targets {setup:5.2f} s  {len(mine):3d} steps x "
              f"{per_step * 1000:6.1f} ms = {len(mine) * per_step:5.2f} s")
        previous = mine[-1][2]
    parts = step_breakdown(params, net)
    whole = sum(parts.values())
    print(f"finest level, one step ({whole * 1000:.0f} ms):")
    for name, value in parts.items():
        print(f"  {name:20s} {value * 1000:6.1f} ms  {100 * value / whole:4.1f} %")
    vgg = vgg_step(args.size)
    print(f"VGG-19 forward+backward at {args.size} px: {vgg:.2f} s; stylize alone = {total / vgg:.1f} VGG steps")


if __name__ == "__main__":
    main()

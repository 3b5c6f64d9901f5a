"""How much memory a run will need, estimated before it starts, and refusing what cannot fit.

A size typo (``--size 100000``) used to end in an allocator traceback minutes into a run; the
estimate turns it into one line before any work. The numbers are per-pixel costs measured with
benchmarks (docs/reliability.md): they are deliberately a little high, so that what is refused
would really not have fitted, and what is allowed may still be slow.
"""

from __future__ import annotations

import os

from .errors import ResourceError

GB = 2**30
BASE_BYTES = int(0.4 * GB)  # torch, the backbone and Python itself
# One optimised pixel (forward + backward through the backbone, L-BFGS history): 512 px default
# run peaked at 0.89 GB, a 1024-px tile level at 4.0 GB (docs/quality.md).
GRAD_BYTES_PER_PIXEL = {"vgg": 8192, "default": 3072}
# One pixel of a full-size image the run keeps (content, canvas, init, style, masks, resizes).
IMAGE_BYTES_PER_PIXEL = 128
# One pixel through a fast style network (no gradients), tile by tile.
FAST_BYTES_PER_PIXEL = 512


def total_ram() -> int:
    """Physical memory of the machine, or the cgroup limit of this container when lower."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0  # unknown: nothing is refused
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < ram:
            ram = int(text)
    return ram


# The share of RAM a run may plan to use: the system, a browser and the estimate's own error
# need the rest, and a run that pushes a machine into swap never finishes.
USABLE_SHARE = 0.75


def check_fits(needed: int, what: str, *, ram: int | None = None, hint: str = "use a smaller --size") -> None:
    """ResourceError with the estimate when ``needed`` bytes exceed 3/4 of the machine's RAM."""
    ram = total_ram() if ram is None else ram
    if ram and needed > USABLE_SHARE * ram:
        raise ResourceError(
            f"{what}: needs about {needed / GB:.1f} GB of memory, more than 3/4 of this machine's "
            f"{ram / GB:.1f} GB; {hint}"
        )


def stylize_bytes(output_pixels: int, work_pixels: int, style_pixels: int, model: str) -> int:
    """Peak memory of a ``stylize`` run: the optimised level or tile, plus full-size images."""
    per_pixel = GRAD_BYTES_PER_PIXEL["vgg" if model.startswith("vgg") else "default"]
    return BASE_BYTES + work_pixels * per_pixel + (output_pixels + style_pixels) * IMAGE_BYTES_PER_PIXEL


def optimised_image_bytes(pixels: int, model: str) -> int:
    """Peak memory of optimising one image of ``pixels`` pixels through a backbone (explain tools)."""
    return stylize_bytes(pixels, pixels, 0, model)


def forward_bytes(pixels: int, batch: int, model: str) -> int:
    """Peak memory of forward passes without gradients (explain units): about a third per pixel."""
    return BASE_BYTES + batch * pixels * GRAD_BYTES_PER_PIXEL["vgg" if model.startswith("vgg") else "default"] // 3


def fast_apply_bytes(output_pixels: int, tile_pixels: int) -> int:
    """Peak memory of painting one image with a fast style, tile by tile."""
    return BASE_BYTES + min(output_pixels, tile_pixels) * FAST_BYTES_PER_PIXEL + output_pixels * IMAGE_BYTES_PER_PIXEL

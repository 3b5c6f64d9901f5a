"""What counts as an image here: the file suffixes read and written, the folder walker, and the
smallest picture the networks can see.

Light on purpose (no torch): the CLI reads these for ``--help`` and for checks made before any
model loads. Decoding and encoding live in :mod:`painterly.io`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import ImageError, ParameterError

# Below this the deepest taps (stride 16-32) have no spatial extent left: every command and the
# server refuse smaller sides, and the style image is never scaled under it.
MIN_SIDE = 32

# The suffixes of the formats io.load_image decodes (its closed list of Pillow formats; .mpo is
# what many phone cameras call their JPEGs). Folders are searched for these.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".tga", ".qoi", ".avif", ".mpo")
# What io.save_image encodes, and the one spelling of each format that --format offers.
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
FORMAT_CHOICES = (".png", ".jpg", ".webp", ".tif")


def is_hidden(name: str) -> bool:
    """Dot files and dot folders (.git, .DS_Store, editors' temporaries) are never inputs."""
    return name.startswith(".")


def image_files(folder: str | os.PathLike[str], suffixes: Iterable[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Files under ``folder`` whose suffix (any case) is in ``suffixes``, recursively, sorted;
    hidden files and everything inside hidden folders left out. The one folder walker."""
    wanted = tuple(s.lower() for s in suffixes)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found += [Path(root, f) for f in files if not is_hidden(f) and f.lower().endswith(wanted)]
    return sorted(found)


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """:func:`image_files`, or one ImageError line when ``folder`` is missing, a file, or has none."""
    root = Path(folder)
    if not root.exists():
        raise ImageError(f"{root}: no such folder")
    if not root.is_dir():
        raise ImageError(f"{root}: not a folder (give a folder of images)")
    found = image_files(root)
    if not found:
        raise ImageError(f"{root}: no image files in this folder (looked for {', '.join(IMAGE_SUFFIXES[:5])}, …)")
    return found


def check_shape(hw: tuple[int, int], long_side: int, what: str) -> None:
    """Refuse an image the network cannot see at ``long_side`` (an 8x8 icon, a 100:1 strip)."""
    h, w = hw
    if min(h, w) < MIN_SIDE:
        raise ParameterError(f"{what}: {w}x{h} px is too small; both sides must be at least {MIN_SIDE} px")
    exact = min(h, w) * long_side / max(h, w)
    if exact < MIN_SIDE:
        raise ParameterError(
            f"{what}: {w}x{h} px has a short side of {round(exact)} px at {long_side} px long side, too narrow: "
            f"it must be at least {MIN_SIDE} px (use a larger size or a less extreme aspect ratio)"
        )


def fits(hw: tuple[int, int], long_side: int) -> bool:
    """Whether :func:`check_shape` lets this image through at ``long_side``."""
    h, w = hw
    return min(h, w) >= MIN_SIDE and min(h, w) * long_side / max(h, w) >= MIN_SIDE


def long_side_shape(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """(height, width) that io.resize_long_side gives an image of shape ``hw``."""
    h, w = hw
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))

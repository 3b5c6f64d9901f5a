"""The styles shipped with painterly, and finding a style by name or path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError
from ..suggest import unknown_name_message
from .settings import SUFFIX

if TYPE_CHECKING:
    from .model_file import FastStyle



def shipped_styles() -> dict[str, Path]:
    """Name -> file of each style in painterly/fast/styles/, sorted by name."""
    # Beside this module (painterly is installed as files, never zipped: ONNX Runtime and torch
    # read these by path); importlib.resources would add ~5 ms to every `fast apply`.
    folder = Path(__file__).parent / "styles"
    found = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(SUFFIX):
                found[entry.name[: -len(SUFFIX)]] = Path(entry.path)
    return dict(sorted(found.items()))


def find_style(name_or_path: str | os.PathLike) -> FastStyle:
    """A shipped style by name (e.g. ``starry-night``) or a .painterly file by path."""
    from .model_file import load_style

    return load_style(style_file(name_or_path))


def style_file(name_or_path: str | os.PathLike) -> Path:
    """The file of a shipped style (by name) or the path given; checks nothing but the name
    (without torch: the ONNX path of `fast apply` reads the file only when its cache misses)."""
    text = os.fspath(name_or_path)
    shipped = shipped_styles()
    if text in shipped:
        return shipped[text]
    if os.path.exists(text) or text.endswith(SUFFIX) or os.sep in text:
        return Path(text)
    raise ModelError(unknown_name_message("style", text, shipped) + " (or give the path of a .painterly file)")

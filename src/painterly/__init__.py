"""painterly: neural style transfer (Gatys et al. 2015) that runs offline on a laptop CPU.

Quick start::

    from painterly import stylize, StyleParams, load_image, save_image
    result = stylize("photo.jpg", ["painting.jpg"], StyleParams(size=512))
    save_image(result.image, "painted.png")
"""

__version__ = "0.1.0"

from . import _quiet_start  # first: a Ctrl-C while `painterly` starts exits quietly

_quiet_start.install_if_program()

from typing import TYPE_CHECKING, Any  # noqa: E402

from .errors import ImageError, ModelError, PainterlyError, ParameterError  # noqa: E402
from .params import StyleParams  # noqa: E402

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and editors
    from .backbones import create_backbone, list_backbones
    from .engine import StepEvent, optimize_image
    from .io import load_image, save_image
    from .style_transfer import StyleResult, stylize


def __getattr__(name: str) -> Any:
    # Heavy modules (torch models) load on first use, so `import painterly` and `painterly --help` are quick.
    lazy = {
        "stylize": ("style_transfer", "stylize"),
        "StyleResult": ("style_transfer", "StyleResult"),
        "load_image": ("io", "load_image"),
        "save_image": ("io", "save_image"),
        "create_backbone": ("backbones", "create_backbone"),
        "list_backbones": ("backbones", "list_backbones"),
        "optimize_image": ("engine", "optimize_image"),
        "StepEvent": ("engine", "StepEvent"),
    }
    if name in lazy:
        import importlib

        module, attr = lazy[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")


__all__ = [
    "ImageError",
    "ModelError",
    "PainterlyError",
    "ParameterError",
    "StepEvent",
    "StyleParams",
    "StyleResult",
    "create_backbone",
    "list_backbones",
    "load_image",
    "optimize_image",
    "save_image",
    "stylize",
]

"""Understanding tools: what units respond to, what layers keep of an image, and DeepDream.

All three return tensors (and metadata) rather than writing files, for use in notebooks::

    from painterly.explain import top_patches, invert, dream
    units = top_patches("photos/", "b3.dw", units=[3, 17, 42])   # units.patches[3][0].box …
    sheet = units.sheet()                                         # (1, 3, H, W) tensor
    rec = invert("tubingen.jpg", style_image="starry_night.jpg")  # rec.content[i].image …
    out = dream("tubingen.jpg", "b10.out").image
"""

from typing import Any

from .defaults import DREAM_LAYER, INVERT_LAYERS, UNITS_LAYER

# Torch loads on first use, so the CLI can read the defaults for --help quickly. (The modules are
# not called `invert` and `dream`: importing one would bind the module over the function here.)
_LAZY = {
    "DreamResult": "deepdream", "dream": "deepdream", "dream_score": "deepdream",
    "InversionResult": "inversion", "Reconstruction": "inversion", "invert": "inversion",
    "Patch": "units", "UnitPatches": "units", "Window": "units", "list_images": "units",
    "receptive_window": "units", "top_patches": "units",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'painterly.explain' has no attribute {name!r}")


__all__ = ["DREAM_LAYER", "INVERT_LAYERS", "UNITS_LAYER", *_LAZY]

"""Generated test images (tests must not depend on files outside the repo)."""

import numpy as np
import torch
from PIL import Image


def stripes(height: int = 64, width: int = 64, period: int = 8) -> torch.Tensor:
    """A diagonal red/blue stripe pattern: a 'style' with an obvious texture and palette."""
    y, x = np.mgrid[0:height, 0:width]
    band = ((x + y) // (period // 2)) % 2
    rgb = np.stack([band, 0.2 * np.ones_like(band), 1 - band], axis=0).astype(np.float32)
    return torch.from_numpy(rgb).unsqueeze(0)


def photo(width: int = 96, height: int = 64) -> Image.Image:
    """A smooth colour ramp, as a PIL image."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def make_hostile(kind: str, folder):
    """Equivalents of the files in shared/images/bad/, generated here."""
    path = folder / {"truncated": "cut.jpg", "empty": "empty.jpg", "text": "notes.png", "tiny": "tiny.png",
                     "wide": "wide.jpg"}.get(kind, f"{kind}.png")
    if kind == "truncated":
        photo(256, 192).save(folder / "full.jpg", quality=92)
        data = (folder / "full.jpg").read_bytes()
        path.write_bytes(data[: len(data) * 4 // 10])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("This is a text file, not an image.\n")
    elif kind == "tiny":
        photo(8, 8).save(path)
    elif kind == "wide":
        photo(4000, 40).save(path, quality=92)
    return path


def opened(path) -> Image.Image:
    """Image.open(path), loaded and with its file closed (an open file left to the garbage collector
    is a ResourceWarning, and warnings are errors in this suite). Size, mode, format and info stay."""
    with Image.open(path) as image:
        image.load()
    return image

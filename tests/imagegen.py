"""Generated test images (tests must not depend on files outside the repo)."""

import numpy as np
import torch


def stripes(height: int = 64, width: int = 64, period: int = 8) -> torch.Tensor:
    """A diagonal red/blue stripe pattern: a 'style' with an obvious texture and palette."""
    y, x = np.mgrid[0:height, 0:width]
    band = ((x + y) // (period // 2)) % 2
    rgb = np.stack([band, 0.2 * np.ones_like(band), 1 - band], axis=0).astype(np.float32)
    return torch.from_numpy(rgb).unsqueeze(0)

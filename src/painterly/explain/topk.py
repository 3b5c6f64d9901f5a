"""Per-unit top-k bookkeeping over a stream of images, in constant memory.

Rules (the tests hold the code to them):
- Each image contributes at most one entry per unit: its strongest location (the first one in
  row-major order if several are equal). Otherwise the nine patches of a unit would mostly be
  shifted copies of the same spot in the same picture, as neighbouring units overlap.
- Ties in value are broken by stream order: the earlier image wins. The same picture appearing
  twice in a folder is two images and may fill two places.
- NaN activations never enter the top k.
"""

from __future__ import annotations

import torch
from torch import Tensor


class TopK:
    """The ``k`` largest values per unit seen so far, each with (image index, row, column)."""

    def __init__(self, units: int, k: int = 9) -> None:
        if units < 1 or k < 1:
            raise ValueError("TopK needs at least one unit and k >= 1")
        self.k = k
        self.values = torch.full((units, k), float("-inf"))
        self.image = torch.full((units, k), -1, dtype=torch.long)  # -1: slot still empty
        self.row = torch.zeros((units, k), dtype=torch.long)
        self.col = torch.zeros((units, k), dtype=torch.long)

    def update(self, activations: Tensor, first_image: int) -> None:
        """Add a batch (B, C, H, W) of activations of images ``first_image, first_image + 1, …``.

        A (B, C) batch (a global layer such as logits) counts as H = W = 1.
        """
        acts = activations.detach().float().cpu()
        if acts.dim() == 2:
            acts = acts[:, :, None, None]
        b, c, _, w = acts.shape
        if c != self.values.shape[0]:
            raise ValueError(f"expected {self.values.shape[0]} units, got {c}")
        flat = acts.flatten(2).nan_to_num(nan=float("-inf"))
        best, where = flat.max(dim=2)  # (B, C); max returns the first maximal index
        images = torch.arange(first_image, first_image + b).view(b, 1).expand(b, c)
        # Old entries first, then the batch in stream order: a stable sort keeps earlier on ties.
        values = torch.cat([self.values, best.T], dim=1)
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.values = values.gather(1, order)
        self.image = torch.cat([self.image, images.T], dim=1).gather(1, order)
        self.row = torch.cat([self.row, (where // w).T], dim=1).gather(1, order)
        self.col = torch.cat([self.col, (where % w).T], dim=1).gather(1, order)
        # An empty slot that lost to a NaN (-inf) keeps image -1, so it is never reported.
        self.image[self.values == float("-inf")] = -1

    def peaks(self) -> Tensor:
        """(C,) the largest value each unit reached (-inf if it never did)."""
        return self.values[:, 0].clone()

    def entries(self, unit: int) -> list[tuple[float, int, int, int]]:
        """(value, image index, row, column) of ``unit``, strongest first, empty slots left out."""
        return [
            (float(v), int(i), int(r), int(c))
            for v, i, r, c in zip(self.values[unit], self.image[unit], self.row[unit], self.col[unit])
            if i >= 0
        ]

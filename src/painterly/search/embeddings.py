"""What the index keeps of an image: content, style and "semantic" vectors and ImageNet tags.

One forward pass of the frozen backbone at a small size gives all of them (the article "One
network, four uses" builds its tools on one network's representations in the same way):

- content: a block output at stride 16 (``b10.out``) average-pooled to a 3x3 grid, with each
  channel's mean over the grid taken out, plus that mean at half weight. Layout is what
  survives stylisation, while the channel means are where a style lives (AdaIN's observation,
  used for the style vector below): globally pooled features found the photo behind 3/21
  fast-stylised copies, the plain grid 16/21, the centred grid 21/21; the down-weighted means
  keep crops finding their image (67/68). docs/search.md has the table.
- style: per channel mean and standard deviation of the default style taps, each tap's vector
  scaled to unit length so every layer weighs the same (Huang & Belongie's AdaIN statistics,
  in place of the Gram matrices of Gatys et al.: 1,312 numbers instead of 47,880, and they
  matched stylised copies to their painting 21/21 where the Gram matrices did 17/21).
- semantic: the classifier head's globally pooled features (1,280 numbers), the input of the
  final linear layer; ``logits = fc(semantic)``, which is what search by words optimises.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..backbones import Backbone, create_backbone
from ..errors import ParameterError
from ..images import MIN_SIDE
from ..io import load_image, resize_long_side
from ..params import DEFAULT_MODEL


@dataclass(frozen=True)
class EmbeddingSettings:
    """How embeddings are computed; stored in the index, which refuses to mix settings."""

    model: str = DEFAULT_MODEL
    size: int = 224  # long side the network sees: its ImageNet training size
    content_layer: str = "b10.out"
    content_grid: int = 3
    content_mean_weight: float = 0.5  # weight of the grid's channel means beside the centred grid
    style_layers: tuple[str, ...] = ("b0.out", "b1.out", "b3.out", "b5.out", "b8.out", "b11.out", "b14.out")
    semantic_layer: str = "head"

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> EmbeddingSettings:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ImageEmbedding:
    """The vectors of one image (float32, 1-D) and its class probabilities."""

    content: Tensor
    style: Tensor
    semantic: Tensor
    probabilities: Tensor  # (1000,) softmax of the classifier's logits


class Embedder:
    """Holds the frozen backbone; ``embed(image)`` runs one forward pass."""

    def __init__(self, settings: EmbeddingSettings | None = None, *, device: str | torch.device = "cpu",
                 backbone: Backbone | None = None) -> None:
        self.settings = settings or EmbeddingSettings()
        s = self.settings
        if isinstance(s.size, bool) or not isinstance(s.size, int) or not MIN_SIDE <= s.size <= 1024:
            raise ParameterError(f"size: must be a whole number of pixels from {MIN_SIDE} to 1024, got {s.size!r}", field="size")
        if isinstance(s.content_grid, bool) or not isinstance(s.content_grid, int) or not 1 <= s.content_grid <= 8:
            raise ParameterError(f"content_grid: must be a whole number from 1 to 8, got {s.content_grid!r}")
        if backbone is None:
            # Channels-last convolutions took a quarter off the CPU time of a forward pass at
            # 224 px (79 -> 58 ms, same vectors to 1e-7); only on our own copy of the network.
            backbone = create_backbone(s.model, device=device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch accepts it; its stubs do not list it
        self.net = backbone
        self.net.check_layers([s.content_layer, *s.style_layers, s.semantic_layer, "logits"])
        self.device = next(self.net.parameters()).device

    @property
    def classifier(self) -> torch.nn.Linear:
        """The final linear layer: semantic vector -> 1000 ImageNet logits."""
        fc = self.net.fc
        assert isinstance(fc, torch.nn.Linear)  # present: check_layers asked for "logits"
        return fc

    def load(self, path: str | os.PathLike[str]) -> Tensor:
        """The image as the network will see it: decoded (JPEG at reduced scale) and resized."""
        image = load_image(path, at_least=self.settings.size)
        return resize_long_side(image, self.settings.size)

    @torch.no_grad()
    def embed(self, image: Tensor) -> ImageEmbedding:
        """Embed a (1, 3, H, W) sRGB image; it is resized to the settings' long side first."""
        if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
            raise ParameterError(f"image: expected shape (1, 3, H, W), got {tuple(image.shape)}")
        s = self.settings
        if max(image.shape[-2:]) != s.size:
            image = resize_long_side(image, s.size)
        layers = list(dict.fromkeys([s.content_layer, *s.style_layers, s.semantic_layer, "logits"]))
        acts = self.net(image.to(self.device).contiguous(memory_format=torch.channels_last), layers)
        content = _content_vector(acts[s.content_layer], s.content_grid, s.content_mean_weight)
        style = torch.cat([_mean_std(acts[name]) for name in s.style_layers])
        semantic = acts[s.semantic_layer].mean((2, 3))[0]
        probabilities = acts["logits"][0].softmax(0)
        return ImageEmbedding(content.float().cpu(), style.float().cpu(), semantic.float().cpu(),
                              probabilities.float().cpu())


def _content_vector(activation: Tensor, grid: int, mean_weight: float) -> Tensor:
    """A grid x grid layout with each channel's mean removed, then the means at ``mean_weight``."""
    cells = F.adaptive_avg_pool2d(activation, grid)[0]
    mean = cells.mean((1, 2), keepdim=True)
    layout = F.normalize((cells - mean).flatten(), dim=0)
    return torch.cat([layout, mean_weight * F.normalize(mean.flatten(), dim=0)])


def _mean_std(activation: Tensor) -> Tensor:
    """Channel means and standard deviations of one tap, as one unit-length vector."""
    f = activation[0].flatten(1)
    stats = torch.cat([f.mean(1), f.std(1, correction=0)])
    return F.normalize(stats, dim=0)

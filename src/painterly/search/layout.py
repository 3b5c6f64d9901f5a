"""Pictures of search results: a labelled contact sheet, and a 2-D map of a whole collection.

The map is the article's picture of the representation space, drawn for a user's own images:
t-SNE (scikit-learn, an optional install: ``pip install painterly[search]``) places images whose
style (or content) vectors are close next to each other, and each is drawn as its thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..errors import ParameterError
from ..explain.sheet import labelled_grid
from .query import Library, SearchResult, check_kind

BACKGROUND = (255, 255, 255)
MIN_MAP_IMAGES = 4  # t-SNE's perplexity must stay below the number of points


def square(image: Image.Image, side: int) -> Image.Image:
    """The image scaled to fit a side x side square, centred on white."""
    scale = side / max(image.size)
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
    cell = Image.new("RGB", (side, side), BACKGROUND)
    cell.paste(small, ((side - small.width) // 2, (side - small.height) // 2))
    return cell


def result_sheet(library: Library, result: SearchResult, *, query_image: Image.Image | None = None,
                 cell: int = 160, columns: int | None = None) -> Image.Image:
    """The query (if an image) and the hits, each labelled with its rank, name and score."""
    cells = []
    if query_image is not None:
        cells.append((square(query_image, cell), f"query: {result.query}"))
    for rank, hit in enumerate(result.hits, start=1):
        cells.append((square(library.thumbnail(hit), cell), f"{rank}. {hit.score:.3f} {Path(hit.key).name}"))
    if not cells:
        raise ParameterError("the index is empty: nothing to show")
    how = {"style": "by style", "content": "by content", "words": "by words (optimised representation)",
           "logits": "by words (class logits)"}[result.by]
    title = f"{result.query!r} {how}"
    if result.classes:
        title += "; ImageNet classes: " + ", ".join(result.classes)
    return labelled_grid(cells, columns or min(len(cells), 5), title=title)


@dataclass(frozen=True)
class MapResult:
    image: Image.Image
    paths: list[str]  # stored paths, in the order of ``positions``
    positions: np.ndarray  # (N, 2) in [0, 1]


def collection_map(library: Library, *, by: str = "style", size: int = 1600, thumbnail: int = 96,
                   seed: int = 0) -> MapResult:
    """t-SNE of the stored vectors, drawn as thumbnails on a size x size canvas."""
    check_kind(by)
    if isinstance(size, bool) or not isinstance(size, int) or not 256 <= size <= 8192:
        raise ParameterError(f"size: must be a whole number of pixels from 256 to 8192, got {size!r}")
    if isinstance(thumbnail, bool) or not isinstance(thumbnail, int) or not 16 <= thumbnail <= size // 4:
        raise ParameterError(f"thumbnail: must be a whole number of pixels from 16 to {size // 4}, got {thumbnail!r}")
    paths, vectors = library.vectors(by)
    if len(paths) < MIN_MAP_IMAGES:
        raise ParameterError(f"{library.db.name}: a map needs at least {MIN_MAP_IMAGES} images, the index has {len(paths)}")
    positions = embed_2d(vectors.float().numpy(), seed=seed)
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    span = size - thumbnail
    for path, (x, y) in zip(paths, positions):
        thumb = library.db.thumbnail(path)
        thumb.thumbnail((thumbnail, thumbnail))
        canvas.paste(thumb, (int(x * span) + (thumbnail - thumb.width) // 2,
                             int(y * span) + (thumbnail - thumb.height) // 2))
    ImageDraw.Draw(canvas).text((8, 4), f"{len(paths)} images by {by} (t-SNE)", fill=(20, 20, 20))
    return MapResult(canvas, paths, positions)


def embed_2d(vectors: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(N, D) unit vectors -> (N, 2) t-SNE positions scaled into [0, 1] (cosine distances)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:  # an optional extra: say how to get it
        raise ParameterError("the map needs scikit-learn: pip install 'painterly[search]'") from None
    n = len(vectors)
    perplexity = float(min(30.0, (n - 1) / 3))
    points = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed
                  ).fit_transform(vectors.astype(np.float32))
    low, high = points.min(0), points.max(0)
    return (points - low) / np.where(high > low, high - low, 1.0)


def neighbours_agree(vectors: np.ndarray, positions: np.ndarray, k: int = 3) -> float:
    """Share of each point's k nearest neighbours in the map that are also among its k nearest
    in the vectors (1.0: the map keeps every neighbourhood). Used by tests and the benchmark."""
    import torch

    v = F.normalize(torch.from_numpy(np.asarray(vectors, dtype=np.float32)), dim=1)
    near_v = (-(v @ v.T)).argsort(1)[:, 1 : k + 1]
    p = torch.from_numpy(np.asarray(positions, dtype=np.float32))
    near_p = torch.cdist(p, p).argsort(1)[:, 1 : k + 1]
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(near_v, near_p)]))


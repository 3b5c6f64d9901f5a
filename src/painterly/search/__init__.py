"""The network's other uses (after "One network, four uses"): find images by style, content or
words, tag them with ImageNet classes, find related class names, and map a collection.

Library code only: nothing here prints or picks file names (see painterly.cli.search).
"""

import os
from collections.abc import Sequence

from torch import Tensor

from .database import IndexDatabase, IndexFileError
from .embeddings import Embedder, EmbeddingSettings, ImageEmbedding
from .indexer import IndexReport, default_database, index_folder
from .layout import MapResult, collection_map, result_sheet
from .query import Hit, Library, SearchResult, optimise_representation
from .words import (
    Tag,
    Word,
    class_names,
    classes_for,
    similar_words,
    tags_from_probabilities,
)

__all__ = [
    "Embedder", "EmbeddingSettings", "Hit", "ImageEmbedding", "IndexDatabase", "IndexFileError",
    "IndexReport", "Library", "MapResult", "SearchResult", "Tag", "Word", "class_names", "classes_for",
    "collection_map", "default_database", "index_folder", "optimise_representation", "result_sheet",
    "similar_words", "tag_images", "tags_from_probabilities",
]


def tag_images(images: Sequence[str | os.PathLike[str] | Tensor], *, k: int = 5, embedder: Embedder | None = None) -> list[list[Tag]]:
    """The k most probable ImageNet classes of each image (paths or (1, 3, H, W) tensors)."""
    from .words import check_count

    check_count(k, "k", 1000)
    embedder = embedder or Embedder()
    loaded = [im if isinstance(im, Tensor) else embedder.load(im) for im in images]  # all read first
    return [tags_from_probabilities(embedder.embed(im).probabilities, k) for im in loaded]

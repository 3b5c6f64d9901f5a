"""Searching an index: by an image's content or style, and by words.

Search is exact: every stored vector is compared with the query (one matrix-vector product over
unit vectors, i.e. cosine similarity). The unit vectors are kept in float16, as stored: 100,000
style vectors are 262 MB, and the product reads half the bytes float32 would (it is bound by
memory speed: 34 ms of CPU per query against 55 ms, benchmarks/search.py).

Search by words is the article's fourth use: the words name ImageNet classes; starting from a
random vector, the classifier head's input (the pooled ``head`` features) is optimised, network
frozen, until the head outputs those classes; the images whose pooled features point the same
way (cosine) are returned. ``method="logits"`` is the plain baseline: rank the images by the
named classes' logits. docs/search.md compares the two.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..errors import ParameterError
from ..params import MAX_STEPS
from .database import IndexDatabase
from .embeddings import Embedder
from .words import check_count, class_names, classes_for

SEARCH_KINDS = ("style", "content")
WORD_METHODS = ("optimise", "logits")
MAX_RESULTS = 1000
HEAD_RANGE = (0.0, 6.0)  # pooled ReLU6 activations: where real head features live


@dataclass(frozen=True)
class Hit:
    path: str  # the file (indexed folder + stored relative path)
    score: float  # cosine similarity (logits: the classes' mean logit)
    key: str  # the path as stored in the index, relative to the indexed folder


@dataclass
class SearchResult:
    query: str  # what was asked, for titles: a file name or the words
    by: str  # "style", "content", "words" or "logits"
    hits: list[Hit]
    classes: list[str] = field(default_factory=list)  # the classes the words were mapped to


@dataclass(frozen=True)
class WordVector:
    """The optimised representation and how far the classifier believes it."""

    vector: Tensor
    probability: float  # softmax mass on the named classes at the end
    steps: int


class Library:
    """An open index ready for many queries: vectors are read once and kept as unit rows."""

    def __init__(self, database: str | os.PathLike | IndexDatabase, embedder: Embedder | None = None,
                 device: str | torch.device = "cpu", threadsafe: bool = False) -> None:
        self.db = database if isinstance(database, IndexDatabase) else IndexDatabase(database, threadsafe=threadsafe)
        self._embedder = embedder
        self._device = device
        self._cache: dict[str, tuple[list[str], Tensor]] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.db.settings, device=self._device)
        else:
            self.db.require_settings(self._embedder.settings)
        return self._embedder

    def vectors(self, kind: str, *, normalised: bool = True) -> tuple[list[str], Tensor]:
        """Paths and (N, D) vectors of one kind: float16 unit rows, or float32 as stored."""
        key = f"{kind}:{normalised}"
        if key not in self._cache:
            paths, matrix = self.db.matrix(kind)
            if normalised and paths:
                matrix = F.normalize(matrix, dim=1).half()
            self._cache[key] = (paths, matrix)
        return self._cache[key]

    def by_image(self, image: str | os.PathLike | Tensor, *, by: str = "style", k: int = 9) -> SearchResult:
        """The k stored images nearest to ``image`` in style or content (cosine, best first)."""
        check_kind(by)
        check_count(k, "k", MAX_RESULTS)
        embedder = self.embedder
        tensor = embedder.load(image) if not isinstance(image, Tensor) else image
        embedding = embedder.embed(tensor)
        query = Path(image).name if not isinstance(image, Tensor) else "image"
        return SearchResult(query, by, self._nearest(by, getattr(embedding, by), k))

    def by_words(self, text: str, *, k: int = 9, method: str = "optimise", steps: int = 300,
                 seed: int = 0) -> SearchResult:
        """The k stored images that best show the ImageNet classes ``text`` names."""
        if method not in WORD_METHODS:
            raise ParameterError(f"method: must be one of {', '.join(WORD_METHODS)}, got {method!r}")
        check_count(k, "k", MAX_RESULTS)
        classes = classes_for(text)
        names = [class_names()[i] for i in classes]
        classifier = self.embedder.classifier
        if method == "logits":
            paths, semantic = self.vectors("semantic", normalised=False)
            if not paths:
                return SearchResult(text, "logits", [], names)
            with torch.no_grad():
                scores = classifier(semantic.to(classifier.weight.device))[:, classes].mean(1).cpu()
            return SearchResult(text, "logits", self._top(paths, scores, k), names)
        wanted = optimise_representation(classifier, classes, steps=steps, seed=seed)
        return SearchResult(text, "words", self._nearest("semantic", wanted.vector, k), names)

    def _nearest(self, kind: str, vector: Tensor, k: int) -> list[Hit]:
        paths, matrix = self.vectors(kind)
        if not paths:
            return []
        return self._top(paths, (matrix @ F.normalize(vector.float().cpu(), dim=0).half()).float(), k)

    def _top(self, paths: list[str], scores: Tensor, k: int) -> list[Hit]:
        values, indices = scores.topk(min(k, len(paths)))
        return [Hit(os.fspath(self.db.full_path(paths[i])), float(v), paths[i])
                for v, i in zip(values.tolist(), indices.tolist())]

    def thumbnail(self, hit: Hit) -> Image.Image:
        return self.db.thumbnail(hit.key)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def optimise_representation(
    classifier: torch.nn.Linear, classes: list[int], *, steps: int = 300, lr: float = 0.05, seed: int = 0,
    stop_at: float = 0.99,
) -> WordVector:
    """A head-feature vector that the frozen classifier assigns to ``classes`` (equal shares).

    Starts from small uniform noise and follows Adam on the
    cross-entropy with the classes, projecting back into that range after every step (a
    pooled ReLU6 activation is never negative or above 6). Stops once the classes hold
    ``stop_at`` of the probability.
    """
    check_count(steps, "steps", MAX_STEPS)
    weight = classifier.weight.detach().float().cpu()
    bias = classifier.bias.detach().float().cpu()
    generator = torch.Generator().manual_seed(seed)
    # A small start: what the optimiser adds is then most of the vector. Starting from noise at
    # the scale of real features (0-0.5) left that noise in every cosine: the photo tagged
    # "pier" fell from rank 1 to rank 4 of 25 for the word "pier".
    z = torch.rand(weight.shape[1], generator=generator).mul_(0.01).requires_grad_(True)
    target = torch.zeros(weight.shape[0])
    target[classes] = 1.0 / len(classes)
    optimizer = torch.optim.Adam([z], lr=lr)
    step, mass = 0, 0.0
    for step in range(1, steps + 1):  # noqa: B007 -- the step it stopped at is returned
        log_p = F.log_softmax(F.linear(z, weight, bias), dim=0)
        mass = float(log_p.detach()[classes].exp().sum())
        if mass >= stop_at:
            break
        loss = -(target * log_p).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            z.clamp_(*HEAD_RANGE)
    return WordVector(z.detach(), mass, step)


def check_kind(by: str) -> str:
    if by not in SEARCH_KINDS:
        raise ParameterError(f"by: must be 'style' or 'content', got {by!r}")
    return by

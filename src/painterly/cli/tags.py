"""`painterly tags|words`: the classifier's ImageNet classes as tags of images, and as words."""

from __future__ import annotations

import argparse
import json

from .common import Subparsers
from .search import check_range


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "tags", help="the ImageNet classes the network sees in images, with probabilities",
        description="Tags, not captions: the top classes of EfficientNet-Lite0's 1000 ImageNet classes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("-k", type=int, default=5, help="classes per image (1-1000)")
    p.add_argument("--json", action="store_true",
                   help='one line per image: [{"label": …, "score": …}, …], most probable first')
    p.set_defaults(handler=run_tags)

    p = subparsers.add_parser(
        "words", help="ImageNet class names related to a word, and analogies (word + plus - minus)",
        description="Uses each class's row of the classifier's last layer as its word vector (cosine "
        "similarity). Words must name ImageNet classes: `painterly words --list` shows all 1000.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("word", nargs="?", help='a class name, e.g. "lion" or "container ship"')
    p.add_argument("--plus", action="append", default=[], metavar="W", help="add this word's vector (repeatable)")
    p.add_argument("--minus", action="append", default=[], metavar="W", help="subtract this word's vector (repeatable)")
    p.add_argument("-k", type=int, default=10, help="number of words (1-999)")
    p.add_argument("--json", action="store_true", help='print [{"word": …, "score": …}, …], best first')
    p.add_argument("--list", action="store_true", help="print the 1000 class names and stop")
    p.set_defaults(handler=run_words)


def run_tags(args: argparse.Namespace) -> int:
    from ..search import tag_images

    check_range(args.k, "-k", 1, 1000)
    for path, tags in zip(args.images, tag_images(args.images, k=args.k)):
        if args.json:
            print(json.dumps([{"label": t.label, "score": round(t.score, 6)} for t in tags]))
        else:
            print(f"{path}: " + ", ".join(f"{t.label} {t.score:.1%}" for t in tags))
    return 0


def run_words(args: argparse.Namespace) -> int:
    from ..errors import ParameterError
    from ..search import class_names, similar_words

    if args.list:
        print("\n".join(class_names()))
        return 0
    if not args.word:
        raise ParameterError("WORD: give a word, e.g. `painterly words lion` (or --list for all class names)")
    check_range(args.k, "-k", 1, 999)
    from ..search import Embedder

    words = similar_words(Embedder().classifier, args.word, plus=args.plus, minus=args.minus, k=args.k)
    if args.json:
        print(json.dumps([{"word": w.word, "score": round(w.score, 6)} for w in words]))
    else:
        for w in words:
            print(f"{w.score:7.4f}  {w.word}")
    return 0

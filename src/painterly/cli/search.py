"""`painterly index|search|map`: an index of a folder, searched by style, content or words."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import ParameterError
from ..images import IMAGE_SUFFIXES
from .common import EXIT_INTERRUPTED, FileProgress, Subparsers, file_run

EXIT_SKIPPED = 1  # indexing finished, but some files could not be read


def register(subparsers: Subparsers) -> None:
    _register_index(subparsers)
    _register_search(subparsers)
    _register_map(subparsers)


def _register_index(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "index", help="index a folder of images for search by style, content or words",
        description="Compute per image a content and a style vector, ImageNet tags and a thumbnail, and "
        "keep them in an SQLite file. Run it again after adding, changing or deleting images: only those "
        "are processed. Ctrl-C keeps what is done; a second run goes on from there.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("folder", metavar="DIR", help="folder of images (searched recursively)")
    p.add_argument("--db", help="index file (default: DIR/.painterly/index.sqlite)")
    p.add_argument("--rebuild", action="store_true",
                   help="start the index again (needed after a painterly upgrade changed its format)")
    p.add_argument("--device", default="cpu", help="torch device for the network")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(handler=run_index)


def _register_search(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "search", help="find indexed images like an image (style or content) or showing some words",
        description="Nearest images by cosine similarity. --words maps the words to ImageNet classes (tags, not "
        "captions: `painterly words --list` shows the 1000 names) and optimises a representation until the "
        "classifier says them, then returns the nearest images.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", required=True, help="index made by `painterly index`")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--image", help="find images like this one")
    query.add_argument("--words", help='find images showing this, e.g. "a lion" or "tiger, zebra"')
    p.add_argument("--by", choices=("style", "content"), help="what --image is compared by (default: style)")
    p.add_argument("--method", choices=("optimise", "logits"), default="optimise",
                   help="--words: optimise a representation (the article's way) or rank by the classes' logits")
    p.add_argument("-k", type=int, default=9, help="number of results (1-1000)")
    p.add_argument("-o", "--output", help="also draw a contact sheet of the results (.png, .jpg, .webp)")
    p.add_argument("--cell", type=int, default=160, help="size of one picture on the sheet (32-1024)")
    p.add_argument("--json", action="store_true", help='print [{"path": …, "score": …}, …], best first')
    p.add_argument("--device", default="cpu", help="torch device for the network")
    p.set_defaults(handler=run_search)


def _register_map(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "map", help="lay out an indexed collection in 2-D by style or content (t-SNE), with thumbnails",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", required=True, help="index made by `painterly index`")
    p.add_argument("--by", choices=("style", "content"), default="style", help="which vectors to lay out")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    p.add_argument("--size", type=int, default=1600, help="side of the square picture in pixels (256-8192)")
    p.add_argument("--thumbnail", type=int, default=96, help="side of each thumbnail in pixels")
    p.add_argument("--seed", type=int, default=0, help="t-SNE seed")
    p.set_defaults(handler=run_map)


def check_range(value: int, name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ParameterError(f"{name}: must be from {low} to {high}, got {value}")
    return value


def check_output(path: str, protect: list[str]) -> Path:
    """Before any work: a known image suffix, not an input, and a folder we can write in."""
    from ..io import check_output_path

    target = Path(path)
    check_output_path(target, protect=protect)
    parent = next((p for p in [target.parent, *target.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(f"{path}: cannot write there ({parent} is not a writable folder)")
    return target


def run_index(args: argparse.Namespace) -> int:
    from ..search import default_database, index_folder

    db = Path(args.db) if args.db else default_database(args.folder)
    if db.suffix.lower() in IMAGE_SUFFIXES:
        raise ParameterError(f"--db {db}: looks like an image; the index is an SQLite file (e.g. index.sqlite)")
    try:
        with file_run(args.quiet) as progress:
            report = index_folder(args.folder, db, rebuild=args.rebuild, device=args.device,
                                  progress=progress, warn=progress.warn)
    except KeyboardInterrupt:
        print(f"painterly: interrupted; what was indexed is kept in {db}: run again to finish", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"{report.database}: {report.total - len(report.skipped)} images indexed ({len(report.added)} new, "
              f"{len(report.updated)} changed, {len(report.removed)} removed, {report.unchanged} unchanged)",
              file=sys.stderr)
    if report.skipped:
        print(f"painterly: {len(report.skipped)} file(s) could not be read and are not in the index", file=sys.stderr)
        return EXIT_SKIPPED
    return 0


def run_search(args: argparse.Namespace) -> int:
    from ..io import save_image, to_tensor
    from ..search import Library, result_sheet

    check_range(args.k, "-k", 1, 1000)
    check_range(args.cell, "--cell", 32, 1024)
    if args.words is not None and args.by is not None:
        raise ParameterError("--by: applies to --image; --words always searches what the images show")
    protect = [args.image] if args.image else []
    output = check_output(args.output, protect + [args.db]) if args.output else None
    if args.image and not Path(args.image).is_file():
        raise ParameterError(f"--image {args.image}: no such file")
    with Library(args.db, device=args.device) as library:
        if args.image:
            query_image = library.embedder.load(args.image)  # an unreadable query fails here, in one line
            result = library.by_image(query_image, by=args.by or "style", k=args.k)
            result.query = Path(args.image).name
        else:
            query_image = None
            result = library.by_words(args.words, k=args.k, method=args.method)
        if output is not None:
            from ..io import to_pil

            sheet = result_sheet(library, result, query_image=to_pil(query_image) if query_image is not None else None,
                                 cell=args.cell)
            save_image(to_tensor(sheet), output, protect=protect)
    if args.json:
        print(json.dumps([{"path": h.path, "score": round(h.score, 6)} for h in result.hits]))
    else:
        if result.classes:
            print(f"# ImageNet classes: {', '.join(result.classes)}", file=sys.stderr)
        for hit in result.hits:
            print(f"{hit.score:8.4f}  {hit.path}")
    if output is not None:
        print(f"wrote {output}", file=sys.stderr)
    return 0


def run_map(args: argparse.Namespace) -> int:
    from ..io import save_image, to_tensor
    from ..search import Library, collection_map

    check_range(args.size, "--size", 256, 8192)
    check_range(args.thumbnail, "--thumbnail", 16, args.size // 4)
    output = check_output(args.output, [args.db])
    with Library(args.db) as library:
        result = collection_map(library, by=args.by, size=args.size, thumbnail=args.thumbnail, seed=args.seed)
    save_image(to_tensor(result.image), output, protect=[args.db])
    print(f"wrote {output} ({len(result.paths)} images by {args.by})", file=sys.stderr)
    return 0



def index_libraries(folders: list[str]) -> list[Path]:
    """`serve --library DIR`: bring each folder's index up to date before the server starts."""
    from ..search import index_folder

    done = []
    for folder in folders:
        report = index_folder(folder, warn=FileProgress(quiet=True).warn)
        print(f"library {folder}: {report.total - len(report.skipped)} images ({len(report.added)} new, "
              f"{len(report.updated)} changed, {len(report.removed)} removed)", file=sys.stderr, flush=True)
        done.append(Path(folder).resolve())
    return done

"""Search: retrieval accuracy, embedding choices, words vs logits, indexing speed, query time, size.

A benchmark, not a test: it reads a folder of images given on the command line (the project's
development set: ``content/`` photos and ``style/`` paintings) and builds from it

- stylised copies: every photo through the three shipped fast styles (``painterly fast apply``),
  which must find their photo by content and their painting by style;
- halves: the left half of each painting must find its right half by style (the index holds
  the right halves, the photos and the stylised copies, which share three of the styles);
- crops and rescalings: three 60-70 % crops and a half-size copy of every image must find it
  by content.

It compares candidate content and style vectors on these (the shipped choice is marked), the
words search against the logits baseline, and times indexing (JPEG decode included), queries
over 100,000 synthetic vectors, and the bytes per image of a real index.

    python benchmarks/search.py ../shared/images [--threads 2] [--skip-speed]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from painterly.fast.apply import FastStylizer
from painterly.fast.library import find_style
from painterly.io import load_image, resize_long_side, save_image
from painterly.search import (
    Embedder,
    EmbeddingSettings,
    IndexDatabase,
    Library,
    index_folder,
)
from painterly.search.embeddings import _content_vector

STYLES = {"starry-night": "starry_night_van_gogh", "the-scream": "the_scream_munch",
          "great-wave": "great_wave_hokusai_crop"}
# Words a user might type for the photos that show an ImageNet class (the others show none).
WORDS = {"lion_monochrome": "lion", "golden_gate": "suspension bridge", "taj_mahal": "mosque",
         "tubingen": "boathouse", "hoover_tower_night": "bell tower", "woman_portrait": "wig"}


def crop(img: torch.Tensor, top: float, left: float, h: float, w: float) -> torch.Tensor:
    H, W = img.shape[-2:]
    return img[..., int(top * H): int((top + h) * H), int(left * W): int((left + w) * W)]


# -- candidate vectors: the shipped ones and the alternatives they were chosen over ------------

def candidates(net, image: torch.Tensor, size: int) -> dict[str, torch.Tensor]:
    x = resize_long_side(image, size)
    style_taps = list(EmbeddingSettings().style_layers)
    acts = net(x, list(dict.fromkeys(style_taps + ["b10.out", "b11.out", "b14.out", "head"])))
    out = {
        "content: head, global mean (1280)": acts["head"].mean((2, 3))[0],
        "content: b10.out 3x3 grid (1008)": F.adaptive_avg_pool2d(acts["b10.out"], 3).flatten(),
        "content: b10.out 3x3 grid, centred, + channel means x0.5 (1120) *": _content_vector(acts["b10.out"], 3, 0.5),
        "content: b10.out 3x3 grid, centred (1008)": _content_vector(acts["b10.out"], 3, 0.0)[:1008],
        "content: b11.out 3x3 grid (1728)": F.adaptive_avg_pool2d(acts["b11.out"], 3).flatten(),
        "content: b14.out 4x4 grid (3072)": F.adaptive_avg_pool2d(acts["b14.out"], 4).flatten(),
    }
    mean_std, gram, std = [], [], []
    for name in style_taps:
        f = acts[name][0].flatten(1)
        m, s = f.mean(1), f.std(1, correction=0)
        mean_std.append(F.normalize(torch.cat([m, s]), dim=0))
        std.append(F.normalize(s, dim=0))
        g = f @ f.T / f.shape[1]
        iu = torch.triu_indices(*g.shape)
        gram.append(F.normalize(g[iu[0], iu[1]], dim=0))
    out["style: channel mean+std per tap (1312) *"] = torch.cat(mean_std)
    out["style: channel std per tap (656)"] = torch.cat(std)
    out["style: Gram matrices, upper triangle (47880)"] = torch.cat(gram)
    return out


def retrieval(folder: Path, work: Path) -> None:
    net = Embedder().net
    size = EmbeddingSettings().size
    photos = sorted((folder / "content").glob("*.jpg"))
    paintings = sorted((folder / "style").glob("*.jpg"))
    originals = {p.stem: load_image(p) for p in photos + paintings}
    print(f"making {len(photos) * len(STYLES)} stylised copies ...", file=sys.stderr)
    stylised = {}
    for style in STYLES:
        stylizer = FastStylizer(find_style(style))
        for p in photos:
            out = stylizer(resize_long_side(originals[p.stem], 512))
            stylised[(style, p.stem)] = out
            save_image(out, work / "stylised" / style / f"{p.stem}.jpg")
    with torch.no_grad():
        feats = {k: candidates(net, im, size) for k, im in originals.items()}
        right = {p.stem: candidates(net, crop(originals[p.stem], 0, .5, 1, .5), size) for p in paintings}
        left = {p.stem: candidates(net, crop(originals[p.stem], 0, 0, 1, .5), size) for p in paintings}
        sty = {k: candidates(net, im, size) for k, im in stylised.items()}
        variants = {}
        for k, im in originals.items():
            for i, box in enumerate([(.15, .15, .7, .7), (0, 0, .6, .6), (.4, .4, .6, .6)]):
                variants[(k, f"crop{i}")] = candidates(net, crop(im, *box), size)
            variants[(k, "half")] = candidates(net, resize_long_side(im, max(im.shape[-2:]) // 2), size)

    def top1(queries, database, key):
        names = list(database)
        matrix = torch.stack([F.normalize(database[n][key], dim=0) for n in names])
        right_answers = sum(names[int((matrix @ F.normalize(q[key], dim=0)).argmax())] == want for q, want in queries)
        return right_answers, len(queries)

    halves_db = {**{("right", k): v for k, v in right.items()}, **{("photo", p.stem): feats[p.stem] for p in photos},
                 **{("stylised",) + k: v for k, v in sty.items()}}
    tests = {
        "stylised copy -> its photo (content)": ([(v, k[1]) for k, v in sty.items()], feats),
        "crop/half size -> its image (content)": ([(v, k[0]) for k, v in variants.items()], feats),
        "left half -> right half (style)": ([(v, ("right", k)) for k, v in left.items()], halves_db),
        "stylised copy -> its painting (style)": ([(v, STYLES[k[0]]) for k, v in sty.items()],
                                                  {p.stem: feats[p.stem] for p in paintings}),
    }
    print("\n| vectors (dimensions; * = shipped) | " + " | ".join(tests) + " |")
    print("|---|" + "---|" * len(tests))
    for key in next(iter(feats.values())):
        cells = []
        for queries, database in tests.values():
            ok, n = top1(queries, database, key)
            cells.append(f"{ok}/{n} ({100 * ok / n:.0f} %)")
        print(f"| {key} | " + " | ".join(cells) + " |")


def words_vs_logits(folder: Path, work: Path, threads: int) -> None:
    """Index photos + paintings + stylised copies; each word should bring up its photo's 4 versions."""
    library_dir = work / "library"
    shutil.copytree(folder / "content", library_dir / "content")
    shutil.copytree(folder / "style", library_dir / "style")
    shutil.copytree(work / "stylised", library_dir / "stylised")
    db = work / "words.sqlite"
    index_folder(library_dir, db)
    print("\n| words | classes | optimised: rank of first right image, right in top 4 | logits: same |")
    print("|---|---|---|---|")
    with Library(db) as library:
        for stem, words in WORDS.items():
            cells = []
            for method in ("optimise", "logits"):
                result = library.by_words(words, k=library.db.__len__(), method=method)
                right = [i for i, h in enumerate(result.hits, 1) if Path(h.key).stem == stem]
                cells.append(f"{right[0]}, {sum(r <= 4 for r in right)}/4")
            print(f"| {words} ({stem}) | {', '.join(result.classes)} | {cells[0]} | {cells[1]} |")


def indexing_speed(folder: Path, work: Path, threads: int, copies: int = 4) -> None:
    """Index every image `copies` times (distinct files), model already loaded: images per second."""
    speed_dir = work / "speed"
    sources = sorted((folder / "content").glob("*.jpg")) + sorted((folder / "style").glob("*.jpg"))
    for c in range(copies):
        for p in sources:
            target = speed_dir / f"{c}" / p.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes() + bytes([c]))  # distinct hashes, same pixels
    torch.set_num_threads(threads)
    embedder = Embedder()
    db = work / "speed.sqlite"
    start = time.perf_counter()
    cpu = time.process_time()
    report = index_folder(speed_dir, db, embedder=embedder)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = len(report.added)
    with IndexDatabase(db) as opened:
        opened.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    per_image = db.stat().st_size / n
    print(f"\nindexing: {n} images ({min(p.stat().st_size for p in sources) // 1000}-"
          f"{max(p.stat().st_size for p in sources) // 1000} kB JPEGs up to 1024 px) in {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU, {threads} threads: {n / wall:.1f} images/s (wall), {n / cpu:.1f} per CPU-second")
    print(f"index file: {db.stat().st_size / 1e6:.2f} MB for {n} images = {per_image / 1000:.1f} kB per image")
    print(f"  of which the thumbnail averages "
          f"{_mean_blob(db, 'thumbnail') / 1000:.1f} kB and the three vectors {sum(_mean_blob(db, k) for k in ('content', 'style', 'semantic')) / 1000:.1f} kB")


def _mean_blob(db: Path, column: str) -> float:
    with IndexDatabase(db) as opened:
        return opened.conn.execute(f"SELECT avg(length({column})) FROM images").fetchone()[0]


def query_speed(threads: int, n: int = 100_000, repeats: int = 20) -> None:
    torch.set_num_threads(threads)
    for kind, dim in (("style", 1312), ("content", 1120), ("semantic", 1280)):
        # As Library keeps them: unit rows in float16.
        matrix = F.normalize(torch.randn(n, dim), dim=1).half()
        query = F.normalize(torch.randn(dim), dim=0).half()
        (matrix @ query).topk(9)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            (matrix @ query).topk(9)
        wall, cpu = (time.perf_counter() - start) / repeats, (time.process_time() - cpu) / repeats
        print(f"query over {n} synthetic {kind} vectors ({dim}-d, float16, {matrix.nbytes / 1e6:.0f} MB): "
              f"{wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU")


def load_speed(work: Path, n: int = 20_000) -> None:
    """Reading the vectors of an index into memory: what a CLI search pays before its query."""
    db_path = work / "synthetic.sqlite"
    with IndexDatabase(db_path, create=True, root=work) as db, db.transaction():
        rows = []
        for i in range(n):
            blobs = [torch.randn(d).half().numpy().tobytes() for d in (1120, 1312, 1280)]
            rows.append((f"{i:06d}.jpg", 1, 1, "0" * 64, *blobs, "[]", b"\xff" * 6000))
        db.conn.executemany("INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    start = time.perf_counter()
    with Library(db_path) as library:
        library.vectors("style")
    wall = time.perf_counter() - start
    print(f"opening an index of {n} images and reading its style vectors: {wall:.2f} s "
          f"({wall / n * 100_000:.1f} s per 100,000 images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=Path, help="folder with content/ and style/ (e.g. ../shared/images)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="painterly-search-bench-") as tmp:
        work = Path(tmp)
        retrieval(args.images, work)
        words_vs_logits(args.images, work, args.threads)
        if not args.skip_speed:
            indexing_speed(args.images, work, args.threads)
            query_speed(args.threads)
            load_speed(work)


if __name__ == "__main__":
    main()

"""Bring an index up to date with its folder: embed new and changed images, drop deleted ones.

"Changed" is decided cheaply first (size and modification time as stored) and then for real
(SHA-256 of the bytes): a file that was only touched or copied back keeps its vectors. Each image
is committed on its own, so Ctrl-C loses at most the one being embedded and a second run goes on
where the first stopped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ImageError
from ..images import list_images
from .database import IndexDatabase, IndexFileError, StoredImage, make_thumbnail
from .embeddings import Embedder, EmbeddingSettings
from .words import tags_from_probabilities

STORED_TAGS = 5


def default_database(folder: str | os.PathLike) -> Path:
    """Where an index of ``folder`` lives unless told otherwise (hidden, so walks skip it)."""
    return Path(folder) / ".painterly" / "index.sqlite"


@dataclass
class IndexReport:
    database: Path
    total: int = 0  # image files found
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # content changed: embedded again
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per unreadable file


def index_folder(
    folder: str | os.PathLike,
    database: str | os.PathLike | None = None,
    *,
    settings: EmbeddingSettings | None = None,
    rebuild: bool = False,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
    embedder: Embedder | None = None,
) -> IndexReport:
    """Index the images under ``folder`` into ``database`` (default: FOLDER/.painterly/index.sqlite).

    ``progress(done, total)`` is called after each file, ``warn(message)`` for each file that
    cannot be read (it is left out and listed in the report). Raises IndexFileError before any
    work if the database is damaged, from another version or settings, or indexes another folder.
    """
    root = Path(folder)
    files = list_images(root)  # checks the folder exists and has images
    settings = settings or (embedder.settings if embedder else EmbeddingSettings())
    db_path = Path(database) if database is not None else default_database(root)
    report = IndexReport(db_path, total=len(files))
    db = _open(db_path, root, settings, rebuild)
    try:
        stored = db.rows()
        relative = {_relative(f, root): f for f in files}
        report.removed = sorted(set(stored) - set(relative))
        if report.removed:
            db.remove(report.removed)
        embedder = embedder or Embedder(settings, device=device)
        for done, (rel, path) in enumerate(relative.items(), start=1):
            try:
                _update_one(db, embedder, rel, path, stored.get(rel), report)
            except ImageError as err:
                report.skipped.append(str(err))
                if warn:
                    warn(str(err))
            if progress:
                progress(done, len(relative))
    finally:
        db.close()
    return report


def _open(db_path: Path, root: Path, settings: EmbeddingSettings, rebuild: bool) -> IndexDatabase:
    db = IndexDatabase(db_path, create=True, root=root, settings=settings, rebuild=rebuild)
    try:
        db.require_settings(settings)
        if db.root.resolve() != root.resolve():
            raise IndexFileError(f"{db.name}: indexes {db.root}, not {root}; give another --db")
    except IndexFileError:
        db.close()
        raise
    return db


def _update_one(db: IndexDatabase, embedder: Embedder, rel: str, path: Path, row: StoredImage | None, report: IndexReport) -> None:
    try:
        st = path.stat()
    except OSError as err:
        raise ImageError(f"{path}: cannot read file ({err.strerror or err})") from err
    if row is not None and row.size == st.st_size and row.mtime_ns == st.st_mtime_ns:
        report.unchanged += 1
        return
    digest = _sha256(path)
    if row is not None and row.sha256 == digest:
        db.touch(rel, size=st.st_size, mtime_ns=st.st_mtime_ns)
        report.unchanged += 1
        return
    image = embedder.load(path)
    embedding = embedder.embed(image)
    tags = [(t.index, t.score) for t in tags_from_probabilities(embedding.probabilities, STORED_TAGS)]
    db.put(rel, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=digest, embedding=embedding, tags=tags, thumbnail=make_thumbnail(image))
    (report.updated if row is not None else report.added).append(rel)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as err:
        raise ImageError(f"{path}: cannot read file ({err.strerror or err})") from err
    return h.hexdigest()

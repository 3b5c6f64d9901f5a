"""The on-disk index: one SQLite file (WAL mode) with a row per image.

Vectors are stored as float16 blobs and thumbnails as small JPEGs, about 12 kB per image in all.
The ``meta`` table records the format version and the embedding settings (backbone, layers,
size); an index made with others is refused, because vectors from two settings cannot be
compared. Every change is committed per image, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .. import __version__
from ..errors import PainterlyError
from .embeddings import EmbeddingSettings, ImageEmbedding

FORMAT = "painterly-search-index"
FORMAT_VERSION = 1
THUMBNAIL_SIDE = 160  # long side in pixels; contact sheets and the map draw these
THUMBNAIL_QUALITY = 80
VECTOR_KINDS = ("content", "style", "semantic")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    path TEXT PRIMARY KEY,      -- relative to the indexed folder, '/' separated
    size INTEGER NOT NULL,      -- bytes, with mtime_ns: the cheap "has it changed?" test
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,       -- the real test when size or mtime moved
    content BLOB NOT NULL,      -- float16 vectors
    style BLOB NOT NULL,
    semantic BLOB NOT NULL,
    tags TEXT NOT NULL,         -- JSON [[class index, probability], ...], most probable first
    thumbnail BLOB NOT NULL     -- JPEG
);
"""


class IndexFileError(PainterlyError):
    """The index file is missing, corrupt, or was made with other settings (one line)."""


@dataclass(frozen=True)
class StoredImage:
    """A row without its vectors (those are read in bulk by :meth:`IndexDatabase.matrix`)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    tags: list[tuple[int, float]]


class IndexDatabase:
    """An open index. ``create=True`` makes a new file (and folders); otherwise it must exist."""

    def __init__(self, path: str | os.PathLike, *, create: bool = False, root: str | os.PathLike | None = None,
                 settings: EmbeddingSettings | None = None, rebuild: bool = False, threadsafe: bool = False) -> None:
        """``threadsafe``: the connection may be used from several threads, one at a time (the
        caller holds a lock); the web server's thread pool needs it."""
        self.path = Path(path)
        self.name = os.fsdecode(self.path)
        if not create and not self.path.is_file():
            what = "is not a file" if self.path.exists() else "no such index"
            raise IndexFileError(f"{self.name}: {what}; make one with `painterly index FOLDER`")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=not threadsafe)
        except (OSError, sqlite3.Error) as err:
            raise IndexFileError(f"{self.name}: cannot open the index ({err})") from err
        with self._errors():
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables and create:
                self._initialise(root, settings or EmbeddingSettings())
            elif "meta" not in tables or "images" not in tables:
                raise IndexFileError(f"{self.name}: not a painterly index (an SQLite file with other tables)")
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.conn.execute("PRAGMA journal_mode=WAL")
            if rebuild:  # a painterly index of another version or settings: start it again
                if root is None:
                    raise IndexFileError(f"{self.name}: rebuilding needs the folder it indexes")
                self._initialise(root, settings or EmbeddingSettings(), drop=True)
            self.meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        self._check_meta()
        self.settings = EmbeddingSettings.from_dict(json.loads(self.meta["settings"]))
        self.root = Path(self.meta["root"])

    # -- opening -----------------------------------------------------------------------------

    def _initialise(self, root: str | os.PathLike[str] | None, settings: EmbeddingSettings, drop: bool = False) -> None:
        if root is None:
            raise IndexFileError(f"{self.name}: a new index needs the folder it indexes")
        self.conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction():  # one transaction: a rebuild is all or nothing
            if drop:
                self.conn.execute("DROP TABLE images")
                self.conn.execute("DROP TABLE meta")
            for statement in _SCHEMA.split(";"):  # not executescript: it would commit midway
                if statement.strip():
                    self.conn.execute(statement)
            self.conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("format_version", str(FORMAT_VERSION)),
                ("painterly_version", __version__), ("root", os.fspath(Path(root).resolve())),
                ("settings", json.dumps(settings.as_dict())),
            ])

    def _check_meta(self) -> None:
        if self.meta.get("format") != FORMAT:
            raise IndexFileError(f"{self.name}: not a painterly index")
        version = self.meta.get("format_version")
        if version != str(FORMAT_VERSION):
            raise IndexFileError(
                f"{self.name}: made by another painterly version (index format {version}, this painterly "
                f"reads {FORMAT_VERSION}); re-index with `painterly index FOLDER --rebuild`")
        try:
            stored = json.loads(self.meta["settings"])
            Path(self.meta["root"])
        except (KeyError, TypeError, ValueError) as err:
            raise IndexFileError(f"{self.name}: damaged index settings ({err}); re-index with --rebuild") from err
        if not isinstance(stored, dict) or set(stored) != set(EmbeddingSettings().as_dict()):
            # Settings this painterly does not have (or lacks) mean vectors it cannot reproduce.
            raise IndexFileError(f"{self.name}: made by another painterly version (other embedding settings); "
                                 "re-index with `painterly index FOLDER --rebuild`")

    def require_settings(self, settings: EmbeddingSettings) -> None:
        """Refuse to add vectors computed with other settings (another backbone, layers, size)."""
        if settings != self.settings:
            raise IndexFileError(
                f"{self.name}: made with other settings (backbone {self.settings.model}, size {self.settings.size}); "
                "re-index with `painterly index FOLDER --rebuild`")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as one line naming the file (a corrupt file says 'not a database')."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            raise IndexFileError(f"{self.name}: the index is damaged or not an index ({err}); "
                                 "nothing was changed") from err

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> IndexDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rows --------------------------------------------------------------------------------

    def rows(self) -> dict[str, StoredImage]:
        with self._errors():
            cur = self.conn.execute("SELECT path, size, mtime_ns, sha256, tags FROM images ORDER BY path")
            return {r[0]: StoredImage(r[0], r[1], r[2], r[3], [tuple(t) for t in json.loads(r[4])])
                    for r in cur}

    def __len__(self) -> int:
        with self._errors():
            return self.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def put(self, path: str, *, size: int, mtime_ns: int, sha256: str,
            embedding: ImageEmbedding, tags: list[tuple[int, float]], thumbnail: bytes) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, size, mtime_ns, sha256, _blob(embedding.content), _blob(embedding.style),
                 _blob(embedding.semantic), json.dumps([[i, round(p, 5)] for i, p in tags]), thumbnail))

    def touch(self, path: str, *, size: int, mtime_ns: int) -> None:
        """The file's bytes are unchanged (same hash) but its stat moved: remember the new stat."""
        with self.transaction():
            self.conn.execute("UPDATE images SET size=?, mtime_ns=? WHERE path=?", (size, mtime_ns, path))

    def remove(self, paths: list[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM images WHERE path=?", [(p,) for p in paths])

    def matrix(self, kind: str) -> tuple[list[str], Tensor]:
        """All stored vectors of one kind as a float32 (N, D) matrix, with their paths."""
        if kind not in VECTOR_KINDS:
            raise ValueError(f"kind must be one of {VECTOR_KINDS}")
        with self._errors():
            rows = self.conn.execute(f"SELECT path, {kind} FROM images ORDER BY path").fetchall()
        if not rows:
            return [], torch.zeros(0, 0)
        data = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
        return [r[0] for r in rows], torch.from_numpy(data.astype(np.float32))

    def has(self, path: str) -> bool:
        with self._errors():
            return self.conn.execute("SELECT 1 FROM images WHERE path=?", (path,)).fetchone() is not None

    def thumbnail_bytes(self, path: str) -> bytes:
        with self._errors():
            row = self.conn.execute("SELECT thumbnail FROM images WHERE path=?", (path,)).fetchone()
        if row is None:
            raise IndexFileError(f"{self.name}: no image {path!r} in the index")
        return row[0]

    def thumbnail(self, path: str) -> Image.Image:
        return Image.open(io.BytesIO(self.thumbnail_bytes(path))).convert("RGB")

    def full_path(self, path: str) -> Path:
        return self.root / path


def _blob(vector: Tensor) -> bytes:
    return vector.detach().cpu().numpy().astype(np.float16).tobytes()


def make_thumbnail(image: Tensor, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of a (1, 3, H, W) image, long side ``side`` px."""
    from ..io import resize_long_side, to_pil

    small = resize_long_side(image, side) if max(image.shape[-2:]) > side else image
    buffer = io.BytesIO()
    to_pil(small).save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return buffer.getvalue()

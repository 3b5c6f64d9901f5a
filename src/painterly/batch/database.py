"""The job table: one SQLite file in the output folder, written by the driver alone.

WAL mode lets ``painterly batch status`` read while a batch runs. Every change is its own
transaction, made after the output file it describes is in place: a crash leaves at worst a
finished picture whose job still says *running*, which the next run paints again (atomically).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from .jobs import JobSpec

DB_NAME = "painterly-batch.sqlite"
STATES = ("pending", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,          -- the output file, relative to the folder
    fingerprint TEXT NOT NULL,      -- sha256 of kind, input bytes and settings
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,             -- JSON: content, styles, settings
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,                     -- one line: why the last attempt failed
    worker TEXT,                    -- where the last attempt ran
    started_at REAL,
    finished_at REAL,
    seconds REAL,                   -- painting time reported by the worker
    output_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    executor TEXT NOT NULL,
    slots INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT                    -- finished, interrupted (NULL while running or after a crash)
);
"""


@dataclass(frozen=True)
class JobRow:
    name: str
    fingerprint: str
    kind: str
    spec: dict[str, Any]
    state: str
    attempts: int
    error: str | None
    worker: str | None
    started_at: float | None
    finished_at: float | None
    seconds: float | None
    output_sha256: str | None


class JobTable:
    """The jobs of one output folder. Open with :func:`open_table`."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        try:
            # isolation_level=None: autocommit; each method below is one explicit transaction.
            # A reader opens the file read-write all the same: WAL readers need its shared-memory file.
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
                self.db.executescript(_SCHEMA)
            self.db.execute("SELECT count(*) FROM jobs").fetchone()
        except sqlite3.DatabaseError as err:
            raise ParameterError(f"{path}: not a painterly batch table ({err})") from None

    def close(self) -> None:
        self.db.close()

    # -- planning ---------------------------------------------------------------------------

    def sync(self, jobs: list[JobSpec], fingerprints: dict[str, str]) -> None:
        """Insert new jobs; a job whose fingerprint changed (new input or setting) starts over."""
        with self._transaction():
            for job in jobs:
                fp = fingerprints[job.name]
                row = self.db.execute("SELECT fingerprint FROM jobs WHERE name = ?", (job.name,)).fetchone()
                if row is None:
                    self.db.execute(
                        "INSERT INTO jobs (name, fingerprint, kind, spec, state) VALUES (?, ?, ?, ?, 'pending')",
                        (job.name, fp, job.kind, json.dumps(job.describe(), default=str)),
                    )
                elif row[0] != fp:
                    self.db.execute(
                        "UPDATE jobs SET fingerprint = ?, kind = ?, spec = ?, state = 'pending', attempts = 0, error = NULL,"
                        " worker = NULL, started_at = NULL, finished_at = NULL, seconds = NULL, output_sha256 = NULL WHERE name = ?",
                        (fp, job.kind, json.dumps(job.describe(), default=str), job.name),
                    )

    def reopen(self, name: str, reason: str) -> None:
        """A finished job whose picture is gone or changed: paint it again."""
        with self._transaction():
            self.db.execute("UPDATE jobs SET state = 'pending', error = ?, output_sha256 = NULL WHERE name = ?", (reason, name))

    def recover_running(self) -> int:
        """Jobs left *running* by a driver that died: nobody is painting them now."""
        with self._transaction():
            return self.db.execute("UPDATE jobs SET state = 'pending' WHERE state = 'running'").rowcount

    # -- running ----------------------------------------------------------------------------

    def claim(self, name: str, worker: str) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?, started_at = ?,"
                " finished_at = NULL WHERE name = ?",
                (worker, time.time(), name),
            )

    def finish(self, name: str, output_sha256: str, seconds: float, worker: str) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE jobs SET state = 'done', error = NULL, output_sha256 = ?, seconds = ?, worker = ?, finished_at = ?"
                " WHERE name = ?",
                (output_sha256, seconds, worker, time.time(), name),
            )

    def fail(self, name: str, error: str, *, final: bool) -> None:
        """Record why an attempt failed; ``final=False`` puts the job back in the queue."""
        with self._transaction():
            self.db.execute(
                "UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE name = ?",
                ("failed" if final else "pending", error, time.time(), name),
            )

    def release(self, name: str) -> None:
        """An attempt cut short by the user (Ctrl-C): not counted, the job waits for the next run."""
        with self._transaction():
            self.db.execute(
                "UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0), started_at = NULL WHERE name = ?"
                " AND state = 'running'",
                (name,),
            )

    def start_run(self, executor: str, slots: int, jobs: int) -> int:
        with self._transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (pid, executor, slots, jobs, started_at) VALUES (?, ?, ?, ?, ?)",
                (os.getpid(), executor, slots, jobs, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def end_run(self, run_id: int, outcome: str) -> None:
        with self._transaction():
            self.db.execute("UPDATE runs SET finished_at = ?, outcome = ? WHERE id = ?", (time.time(), outcome, run_id))

    # -- reading ----------------------------------------------------------------------------

    def rows(self, names: list[str] | None = None) -> list[JobRow]:
        found = [_row(r) for r in self.db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY name")]
        if names is None:
            return found
        wanted = set(names)
        return [r for r in found if r.name in wanted]

    def row(self, name: str) -> JobRow | None:
        r = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE name = ?", (name,)).fetchone()
        return _row(r) if r else None

    def last_run(self) -> dict[str, Any] | None:
        r = self.db.execute(
            "SELECT id, pid, executor, slots, jobs, started_at, finished_at, outcome FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        keys = ("id", "pid", "executor", "slots", "jobs", "started_at", "finished_at", "outcome")
        return dict(zip(keys, r)) if r else None

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


_COLUMNS = "name, fingerprint, kind, spec, state, attempts, error, worker, started_at, finished_at, seconds, output_sha256"


def _row(r: tuple) -> JobRow:
    values = list(r)
    values[3] = json.loads(values[3])
    return JobRow(*values)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on any exception, Ctrl-C included)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def open_table(folder: Path, *, readonly: bool = False) -> JobTable:
    path = folder / DB_NAME
    if readonly and not path.is_file():
        raise ParameterError(f"{folder}: no batch here (no {DB_NAME})")
    return JobTable(path, readonly=readonly)

"""Manifests: a list of jobs in CSV or JSON lines, each row with its own settings.

Every row names a ``content`` photo and its ``style`` (CSV: several separated by ``;``; JSON: a
string or a list, also under ``styles``), optionally an ``output`` name, and any settings of its
kind: :class:`StyleParams` fields for paintings, :class:`ApplySettings` fields for fast styles.
Settings a row leaves out (or leaves empty) come from the command's options. Relative paths are
relative to the manifest's folder. Any problem is reported with its line and field before work.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..params import field_type
from .jobs import Defaults, JobSpec, _stem, check_plan, job_settings, style_kind

RESERVED = ("content", "style", "styles", "output")
STYLE_SEPARATOR = ";"


def read_manifest(path: str | Path, defaults: Defaults) -> list[JobSpec]:
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"manifest: {path}: no such file")
    jobs = [_job(row, line, path, defaults) for line, row in _rows(path)]
    if not jobs:
        raise ParameterError(f"manifest: {path} lists no jobs")
    check_plan(jobs)
    return jobs


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ParameterError(f"manifest: {path}: cannot read it as UTF-8 text ({err.__class__.__name__})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "content" not in reader.fieldnames:
            raise ParameterError(f"manifest: {path}: the first line must name the columns, among them 'content'")
        for row in reader:
            if None in row:
                raise ParameterError(f"manifest {path}, line {reader.line_num}: more cells than columns")
            yield reader.line_num, {k.strip(): v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
    elif path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ParameterError(f"manifest {path}, line {number}: not JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise ParameterError(f"manifest {path}, line {number}: expected an object {{\"content\": …, \"style\": …}}")
            yield number, {k: v for k, v in row.items() if v is not None}
    else:
        raise ParameterError(f"manifest: {path}: use a .csv or .jsonl file")


def _job(row: dict[str, Any], line: int, manifest: Path, defaults: Defaults) -> JobSpec:
    where = f"manifest {manifest}, line {line}"
    if "content" not in row:
        raise ParameterError(f"{where}: no 'content'")
    content = _path(row["content"], manifest, where, "content")
    styles = _styles(row, manifest, where)
    kinds = {style_kind(s) for s in styles}
    if len(kinds) > 1 or (kinds == {"fast"} and len(styles) > 1):
        raise ParameterError(f"{where}: style: blend paintings, or give one fast style, not both")
    kind = kinds.pop()
    base = defaults.for_kind(kind)
    changes = {k: _coerce(type(base), k, v, where) for k, v in row.items() if k not in RESERVED}
    try:
        settings = job_settings(dataclasses.replace(base, **changes))
    except ParameterError as err:
        raise ParameterError(f"{where}: {err}") from None
    name = row.get("output") or f"{_stem(content)}__{'+'.join(_stem(s) for s in styles)}{defaults.suffix}"
    if not isinstance(name, str):
        raise ParameterError(f"{where}: output: expected a file name")
    return JobSpec(name, kind, content, tuple(styles), settings)


def _styles(row: dict[str, Any], manifest: Path, where: str) -> list[str]:
    value = row.get("style", row.get("styles"))
    if isinstance(value, str):
        items = [s.strip() for s in value.split(STYLE_SEPARATOR) if s.strip()]
    elif isinstance(value, list) and all(isinstance(s, str) for s in value):
        items = value
    else:
        items = []
    if not items:
        raise ParameterError(f"{where}: no 'style' (a painting, several separated by '{STYLE_SEPARATOR}', or a fast style)")
    return [s if style_kind(s) == "fast" and not s.endswith(".painterly") else str(_path(s, manifest, where, "style")) for s in items]


def _path(value: Any, manifest: Path, where: str, field: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ParameterError(f"{where}: {field}: expected a file name")
    path = Path(value)
    return path if path.is_absolute() else manifest.parent / path


def _coerce(cls: type, name: str, value: Any, where: str) -> Any:
    """A cell (text in CSV, any JSON value) as the field's type: int, float, str or list[float]."""
    hints = typing.get_type_hints(cls)
    if name not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ParameterError(f"{where}: unknown setting {name!r} for this kind of job (known: {known})")
    kind, is_list = field_type(hints[name])
    items = value.split() if is_list and isinstance(value, str) else value
    try:
        if is_list:
            if not isinstance(items, list):
                raise ValueError
            return [_scalar(kind, v) for v in items]
        return _scalar(kind, value)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}: {name}: {value!r} is not {'a list of ' if is_list else 'a'} {kind.__name__}") from None


def _scalar(kind: type, value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value) if not isinstance(value, str) else int(value.strip())
    if kind is float:
        return float(value)
    if not isinstance(value, str):
        raise ValueError
    return value

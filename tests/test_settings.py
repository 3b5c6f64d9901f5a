"""Every default, range and suffix list is written once (issue 13): a scan of the source for the
literals that used to be repeated, and the docs' option table checked against the settings."""

import dataclasses
import re
from pathlib import Path

import pytest

from painterly.images import IMAGE_SUFFIXES, WRITABLE_SUFFIXES
from painterly.server.settings import ServeSettings

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "painterly"

# literal -> {file (relative to src/painterly): lines allowed to write it there}; nowhere else.
WRITTEN_ONCE = {
    # The default backbone's name, other than as a key of a per-backbone table ("efficientnet-lite0": ...):
    # the default itself, and the architecture table's entry.
    r'"efficientnet-lite0"(?!\s*:)': {"params.py": 1, "backbones/efficientnet_lite.py": 1},
    # The smallest side. fast/apply.py's is the transform network's own (16 px), a different limit.
    r"\bMIN_SIDE\s*=\s*\d+": {"images.py": 1, "fast/apply.py": 1},
    r"minimum=32\b|\(32, |< 32\b|>= 32\b|from 32 to": {},
    # Suffix lists: a tuple of two or more ".ext" strings. images.py: read, written, offered by --format.
    r'\("\.[a-z0-9]+", "\.[a-z0-9]+"': {"images.py": 3, "fast/folders.py": 1, "batch/manifest.py": 1},
    # Ranges shared by every command.
    r"2\*\*63 - 1": {"params.py": 1},
    r"\b100_000\b": {"params.py": 1},
    r"\b16384\b": {"params.py": 1, "measure.py": 1},  # measure.py: a sample count, not a size
    # The server's defaults live in ServeSettings only.
    r"20 \* MB|30_000_000|500 \* 2\*\*20|= 8000\b": {},
}


def occurrences(pattern: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(pattern, line):
                found.setdefault(path.relative_to(SRC).as_posix(), []).append(line.strip())
    return found


@pytest.mark.parametrize("pattern", list(WRITTEN_ONCE))
def test_literal_is_written_only_where_it_is_defined(pattern):
    found = occurrences(pattern)
    allowed = WRITTEN_ONCE[pattern]
    assert {k: len(v) for k, v in found.items()} == {k: n for k, n in allowed.items() if k in found}, found
    assert set(found) <= set(allowed), {k: v for k, v in found.items() if k not in allowed}


def test_suffix_lists_agree_with_the_decoder_and_encoder():
    from painterly import io

    # Every Pillow format the loader sniffs has a suffix the folder walker looks for, and back.
    by_format = {"JPEG": ".jpg", "MPO": ".mpo", "TIFF": ".tif"}
    assert {by_format.get(f, "." + f.lower()) for f in io._INPUT_FORMATS} <= set(IMAGE_SUFFIXES)
    assert set(WRITABLE_SUFFIXES) == set(io._FORMAT_BY_SUFFIX)
    assert io.SUPPORTED_OUTPUT_SUFFIXES is WRITABLE_SUFFIXES


def test_serve_docs_table_shows_every_setting_with_its_default():
    text = (ROOT / "docs" / "serve.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(--[a-z-]+)`[^|]*\| ([^|]*) \|", text, flags=re.M))
    for f in dataclasses.fields(ServeSettings):
        option = "--" + f.name.replace("_", "-")
        assert option in rows, f"docs/serve.md has no row for {option}"
        shown = "system temp" if f.default is None else f"`{f.default:g}`" if isinstance(f.default, float) else f"`{f.default}`"
        assert rows[option] == shown, (option, rows[option], shown)


def test_every_serve_default_reaches_the_server_objects():
    from painterly.server.app import ServerConfig

    config, settings = ServerConfig(), ServeSettings()
    assert config.jobs.max_queue == settings.queue
    assert config.jobs.idle_timeout == settings.idle_timeout
    assert config.jobs.results_cap_bytes == 500 * 2**20 == settings.results_cap_bytes
    assert config.jobs.preview_interval == settings.preview_interval
    assert (config.limits.max_size, config.limits.max_iterations) == (1024, 1000)
    assert config.max_upload_bytes == 20 * 2**20 and config.max_pixels == 30_000_000

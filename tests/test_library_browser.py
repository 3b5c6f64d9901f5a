"""The Library page in a real browser (Debian's Chromium, driven by Playwright, headless).

A person's path: open /library on a server started with --library, see the folder's images,
search by words and by an uploaded picture, open the style map, and send a painting to the
painting page with "Use as style". API answers for bad requests are checked too.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_server_browser import browser, start_server, stop_server  # noqa: F401  (browser: the fixture)

from imagegen import opened

# The slow tier (`pytest -m "not slow"` leaves it out; .ci/run runs it): a real browser against a real server.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    for name in ("starry_night", "the_scream", "great_wave", "figures"):
        im = opened(EXAMPLES / f"{name}.jpg").convert("RGB")
        im.thumbnail((240, 240))
        im.save(root / f"{name}.jpg", quality=90)
    opened(Path(__file__).parent / "data" / "cat.jpg").save(root / "cat.jpg")
    return root


@pytest.fixture(scope="module")
def library_server(folder, tmp_path_factory):
    proc, url = start_server("--library", str(folder), "--results-dir", str(tmp_path_factory.mktemp("results")))
    yield url
    err = stop_server(proc)
    assert "library" in err and "5 images (5 new" in err  # indexed at start


def test_browse_search_map_and_use_as_style(browser, library_server, folder, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # The unknown word below is answered 422 on purpose; Chromium logs every such answer.
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and "status of 422" not in m.text else None)

    page.goto(library_server + "library")
    page.wait_for_function("() => document.querySelectorAll('#results .lib-card').length === 5")
    assert "5 images" in page.inner_text("#library-select")

    page.fill("#query-words", "tabby cat")
    page.click("#words-go")
    page.wait_for_function("() => document.getElementById('results-title').textContent.includes('tabby cat')")
    assert page.locator("#results .lib-card .name").first.inner_text() == "cat.jpg"

    page.fill("#query-words", "unicorn")
    page.click("#words-go")
    page.wait_for_selector("#lib-message:not([hidden])")
    assert "no ImageNet class is called 'unicorn'" in page.inner_text("#lib-message")

    left = io.BytesIO()
    wave = opened(folder / "great_wave.jpg")
    wave.crop((0, 0, wave.width // 2, wave.height)).save(left, "PNG")
    page.set_input_files("#query-image", {"name": "left.png", "mimeType": "image/png", "buffer": left.getvalue()})
    page.click("#image-go")
    page.wait_for_function("() => document.getElementById('results-title').textContent.includes('left.png')")
    assert page.locator("#results .lib-card .name").first.inner_text() == "great_wave.jpg"

    page.click("#show-map")
    page.wait_for_function("() => { const m = document.getElementById('map'); return m.complete && m.naturalWidth > 0; }")
    assert page.evaluate("document.getElementById('map').naturalWidth") == 1200

    page.locator("#results .lib-card .use-style").first.click()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("() => document.querySelectorAll('.style-card').length === 1")
    assert page.locator(".style-name").first.inner_text() == "great_wave.jpg"
    assert not page.is_hidden("#library-link")
    assert not problems, problems
    page.close()


def _status(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {})) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def test_library_api_refuses_paths_and_bad_uploads(library_server):
    base = library_server + "api/library/0"
    assert _status(base + "/file?key=..%2F..%2Fetc%2Fpasswd") == 404
    assert _status(base + "/file?key=cat.jpg") == 200
    assert _status(library_server + "api/library/7/images") == 404
    boundary = "xyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\nnot an image\r\n--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": library_server.rstrip("/")}
    assert _status(base + "/search", body, headers) == 415

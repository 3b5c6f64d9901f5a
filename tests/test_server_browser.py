"""End to end in a real browser: Chromium (Debian's package) driven by Playwright, headless.

A person's path through the page: pick a photo and an artwork, make the job tiny with the
sliders, Start, watch the preview change, download the PNG and the JPEG; then start a long job and
stop it early, which still gives a picture. scripts/install_browser.sh installs Chromium; in CI
(CI=true) a missing browser or Playwright fails the test instead of skipping it.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

# The slow tier (`pytest -m "not slow"` leaves it out; .ci/run runs it): a real browser against a real server.
pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("PAINTERLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test (bash scripts/install_browser.sh)")
    pytest.skip(reason)


def picture(w: int, h: int, seed: int) -> bytes:
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            band = ((x // 7 + y // 5 + seed) % 3) * 100
            px[x, y] = ((x * 4 + seed * 90) % 256, (y * 5 + band) % 256, (band + 60 * seed) % 256)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        # launch() makes a fresh, temporary profile (user data dir) and deletes it afterwards.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    """`painterly serve` on a free port: the process and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly", "serve", "--port", "0", "--device", "cpu", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        proc.kill()
        raise AssertionError(f"server did not start: {line}{proc.stderr.read()}")
    return proc, match.group(0)


def stop_server(proc: subprocess.Popen) -> str:
    """Ctrl-C, as a person would; returns what the server wrote on stderr (never a traceback)."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    proc, url = start_server("--preview-interval", "0.1", "--results-dir", str(results))
    yield url
    stop_server(proc)


RECORD_PREVIEWS = """() => {
  // Fingerprint every preview image the page shows: 16x16 thumbnail pixels, hashed.
  window.__previews = [];
  const img = document.getElementById('preview');
  img.addEventListener('load', () => {
    if (!img.src.includes('/preview?v=')) return;
    const c = document.createElement('canvas'); c.width = 16; c.height = 16;
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0, 16, 16);
    const d = ctx.getImageData(0, 0, 16, 16).data;
    let h = 0; for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) >>> 0;
    window.__previews.push(h);
  });
}"""


def test_make_a_picture_watch_it_change_download_it_and_stop_one_early(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    problems = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "blob:", "data:")) else None)

    page.goto(server)
    page.wait_for_selector("body[data-ready=true]")
    page.set_input_files("#content-input", {"name": "photo.png", "mimeType": "image/png", "buffer": picture(96, 72, 0)})
    page.set_input_files("#style-input", {"name": "art.png", "mimeType": "image/png", "buffer": picture(64, 64, 1)})
    page.wait_for_selector(".style-card")  # files are checked from their header first, asynchronously
    assert page.locator(".style-card").count() == 1
    # A tiny job, set through the controls a person would use.
    page.fill("#f-size", "64")
    page.fill("#f-iterations", "40")
    page.click("#advanced summary")
    page.fill("#f-pyramid_start", "0")
    assert page.locator(".field[data-name=size] output").inner_text() == "64"
    page.evaluate(RECORD_PREVIEWS)

    page.click("#start")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_selector("#dl-png:not([hidden])", timeout=120_000)
    assert page.inner_text("#progress-text").startswith("done")
    previews = page.evaluate("window.__previews")
    assert len(set(previews)) >= 2, f"the preview did not change while painting: {previews}"
    assert page.locator("#gallery .thumb").count() == 1

    with page.expect_download() as download:
        page.click("#dl-png")
    png = tmp_path / "out.png"
    download.value.save_as(png)
    assert download.value.suggested_filename.endswith(".png")
    with Image.open(png) as saved:
        assert saved.format == "PNG" and saved.size == (64, 48)
    with page.expect_download() as download:
        page.click("#dl-jpeg")
    jpeg = tmp_path / "out.jpg"
    download.value.save_as(jpeg)
    with Image.open(jpeg) as saved:
        assert saved.format == "JPEG" and saved.size == (64, 48)

    # A long run, stopped early: the best picture so far still lands in the strip.
    page.fill("#f-iterations", "1000")
    page.click("#start")
    page.wait_for_function("() => /step \\d+ \\/ 1000/.test(document.getElementById('progress-text').textContent)")
    page.click("#stop")
    page.wait_for_selector("#start:not([hidden])", timeout=30_000)
    assert page.inner_text("#progress-text").startswith("stopped")
    page.wait_for_function("() => document.querySelectorAll('#gallery .thumb').length === 2")
    assert not page.is_hidden("#dl-png")

    assert not problems, problems
    assert not outside, f"the page reached outside the server: {outside}"
    page.close()

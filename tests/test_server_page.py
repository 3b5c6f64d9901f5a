"""The page of `painterly serve` as people use it (issue 18), in Debian's Chromium via Playwright.

Each test is one thing a person ran into or expects of a creative tool, on a desktop (1440x900)
or a phone (390x844): the picture stays in view, a reload keeps the job and the results, stale
status never shows, messages use the form's words and files are checked on pick, small results
are not blown up, and masks painted in the page reach the job. Jobs are tiny (64 px, a few steps).
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_server_browser import browser, picture, start_server, stop_server  # noqa: F401  (browser: the fixture)

# The slow tier (`pytest -m "not slow"` leaves it out; .ci/run runs it): a real browser against a real server.
pytestmark = pytest.mark.slow

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
TINY = "?size=64&iterations=8&pyramid_start=0"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = start_server("--preview-interval", "0.1", "--results-dir", str(tmp_path_factory.mktemp("results")))
    yield url
    stop_server(proc)


class Page:
    """A fresh browser profile (its own localStorage) on the page, collecting errors as it goes."""

    def __init__(self, browser, server, viewport=DESKTOP, query=TINY):  # noqa: F811
        self.context = browser.new_context(viewport=viewport, bypass_csp=False)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.add_init_script(RECORD_JOB_FORMS)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.server = server
        self.goto(server + query)

    def goto(self, url):
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]")

    def pick(self, content=None, style=None):
        p = self.page
        if content is not None:
            p.set_input_files("#content-input", {"name": "photo.png", "mimeType": "image/png", "buffer": content})
        if style is not None:
            p.set_input_files("#style-input", {"name": "art.png", "mimeType": "image/png", "buffer": style})
            p.wait_for_selector(".style-card")

    def run_to_the_end(self):
        self.page.click("#start")
        self.page.wait_for_selector("#dl-png:not([hidden])", timeout=120_000)

    def last_form(self) -> dict[str, list]:
        """The parts of the last job form sent: name -> strings, or bytes for files."""
        parts = self.page.evaluate("window.__forms[window.__forms.length - 1]")
        out: dict[str, list] = {}
        for name, kind, value in parts:
            out.setdefault(name, []).append(bytes(value) if kind == "file" else value)
        return out

    def in_viewport(self, selector) -> bool:
        return self.page.evaluate("""(sel) => {
            const r = document.querySelector(sel).getBoundingClientRect();
            return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight;
        }""", selector)

    def close(self):
        self.context.close()
        assert not self.problems, self.problems


# Playwright does not see multipart bodies made of Blobs: the page's fetch records the job forms.
RECORD_JOB_FORMS = """
window.__forms = [];
const realFetch = window.fetch;
window.fetch = async (url, init) => {
  if (init && init.body instanceof FormData && String(url).endsWith('/api/jobs')) {
    const parts = [];
    for (const [name, value] of init.body) {
      parts.push(typeof value === 'string' ? [name, 'text', value]
                 : [name, 'file', Array.from(new Uint8Array(await value.arrayBuffer()))]);
    }
    window.__forms.push(parts);
  }
  return realFetch(url, init);
};
"""

PHOTO = picture(96, 72, 0)
ART = picture(64, 64, 1)


# ---- seen 1: the picture panel scrolls away -------------------------------------------------


def test_the_picture_stays_in_view_on_a_desktop_and_a_phone(browser, server):  # noqa: F811
    desk = Page(browser, server)
    desk.pick(PHOTO, ART)
    desk.page.click("#advanced summary")  # the settings column is now far taller than the window
    desk.page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert desk.page.evaluate("scrollY") > 500
    assert desk.in_viewport("#canvas"), "the picture scrolled away with the settings"
    desk.close()

    phone = Page(browser, server, PHONE)
    phone.pick(PHOTO, ART)
    phone.run_to_the_end()
    phone.page.wait_for_function("""() => {
        const r = document.getElementById('canvas').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= innerHeight; }""", timeout=5_000)
    phone.close()


# ---- seen 2: reload loses the job; a stray drop leaves the page ------------------------------


def test_a_reload_mid_run_keeps_the_job_and_the_results_of_this_browser(browser, server):  # noqa: F811
    first = Page(browser, server)
    first.pick(PHOTO, ART)
    first.run_to_the_end()
    first.page.fill("#f-iterations", "1000")
    first.page.click("#start")
    first.page.wait_for_function("() => /step \\d+ \\/ 1000/.test(document.getElementById('progress-text').textContent)")
    job = re.search(r"[?&]job=([0-9a-f]{32})", first.page.url)
    assert job, f"the job is not in the URL: {first.page.url}"

    first.page.reload()
    first.page.wait_for_selector("body[data-ready=true]")
    # Still running, still shown, still stoppable; the finished one is back in the strip.
    first.page.wait_for_function("() => /step \\d+ \\/ 1000/.test(document.getElementById('progress-text').textContent)")
    assert not first.page.is_hidden("#stop")
    assert first.page.locator("#gallery .thumb").count() == 1
    assert "deletes a result 24 h after" in first.page.inner_text("#gallery-note")
    first.page.click("#stop")
    first.page.wait_for_function("() => document.querySelectorAll('#gallery .thumb').length === 2", timeout=30_000)

    # Closing the tab and coming back without the URL: the strip is restored from the server.
    first.page.goto(server)
    first.page.wait_for_selector("body[data-ready=true]")
    assert first.page.locator("#gallery .thumb").count() == 2
    first.close()


def test_a_file_dropped_outside_the_boxes_does_not_leave_the_page(browser, server):  # noqa: F811
    p = Page(browser, server)
    prevented = p.page.evaluate("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['hello'], 'notes.txt', {type: 'text/plain'}));
        const over = new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true});
        const drop = new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true});
        document.querySelector('h1').dispatchEvent(over);
        document.querySelector('h1').dispatchEvent(drop);
        return [over.defaultPrevented, drop.defaultPrevented];
    }""")
    assert prevented == [True, True], "the browser would open the dropped file and leave the page"
    p.close()


# ---- seen 4 and 5: stale status; API words; the invalid field hidden; files checked late ------


def test_a_refused_job_clears_the_old_status_and_names_the_field_as_the_form_does(browser, server):  # noqa: F811
    p = Page(browser, server)
    p.pick(PHOTO, ART)
    p.run_to_the_end()
    assert p.page.inner_text("#progress-text").startswith("done")
    p.page.fill("#f-iterations", "0")
    p.page.click("#start")
    p.page.wait_for_selector("#message:not([hidden])")
    message = p.page.inner_text("#message")
    assert "Steps per level" in message and "iterations" not in message, message
    assert p.page.inner_text("#progress-text") == "", "the previous job's status is still shown"
    # The invalid field is in view and not behind the sticky Start bar.
    field = p.page.locator(".field[data-name=iterations]").bounding_box()
    bar = p.page.locator(".actions-bar").bounding_box()
    assert field["y"] >= 0 and field["y"] + field["height"] <= bar["y"], (field, bar)
    p.close()


def test_with_no_style_the_plot_caption_does_not_show_the_last_jobs_loss(browser, server):  # noqa: F811
    p = Page(browser, server)
    p.pick(PHOTO, ART)
    p.run_to_the_end()
    old = p.page.inner_text("#plot-caption")
    assert re.search(r"\d", old), old
    p.page.fill("#f-strength", "0")
    p.page.click("#start")
    p.page.wait_for_function("() => document.getElementById('progress-text').textContent.startsWith('done')",
                             timeout=120_000)
    new = p.page.inner_text("#plot-caption")
    assert new != old and old.split(": ")[-1] not in new, (old, new)
    p.close()


def png_header_only(width: int, height: int) -> bytes:
    """The first bytes of a huge PNG: all a page needs to refuse it without decoding anything."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 64


def test_files_are_checked_when_picked(browser, server):  # noqa: F811
    p = Page(browser, server)
    p.page.set_input_files("#content-input", {"name": "notes.png", "mimeType": "image/png", "buffer": b"just some text\n" * 20})
    p.page.wait_for_selector("#message:not([hidden])")
    assert "notes.png is not an image" in p.page.inner_text("#message")
    assert p.page.is_hidden("#content-thumb"), "a broken thumbnail is shown for a text file"

    p.page.set_input_files("#style-input", {"name": "huge.png", "mimeType": "image/png", "buffer": png_header_only(20000, 20000)})
    p.page.wait_for_function("() => document.getElementById('message').textContent.includes('huge.png')")
    assert "20000\u00d720000 px, over this server's 30 megapixel limit" in p.page.inner_text("#message")
    assert p.page.locator(".style-card").count() == 0
    p.close()


# ---- seen 6: blown-up small results, the queued photo, overlaps, the phone's header -----------


def test_a_small_result_is_shown_at_its_size_with_1to1_and_before_after(browser, server):  # noqa: F811
    p = Page(browser, server)
    p.pick(PHOTO, ART)
    p.run_to_the_end()
    assert p.page.inner_text("#picture-info") == "result 64\u00d748 px"
    shown = p.page.locator("#frame").bounding_box()
    assert shown["width"] <= 64.5 and shown["height"] <= 48.5, f"a 64 px result drawn {shown['width']} px wide"
    p.page.click("#zoom")
    assert p.page.get_attribute("#zoom", "aria-pressed") == "true"
    assert not p.page.is_hidden("#compare")
    clip = "getComputedStyle(document.getElementById('before')).clipPath"
    p.page.fill("#compare", "100")  # the photo over all of the result
    assert p.page.evaluate(clip) == "inset(0px 0% 0px 0px)"
    p.page.fill("#compare", "25")  # the photo on the left quarter
    assert p.page.evaluate(clip) == "inset(0px 75% 0px 0px)"
    # Thumbnail and its label do not overlap.
    thumb = p.page.locator("#content-thumb").bounding_box()
    hint = p.page.locator("#content-hint").bounding_box()
    assert hint["y"] >= thumb["y"] + thumb["height"] or hint["y"] + hint["height"] <= thumb["y"], (thumb, hint)
    p.close()


def test_a_queued_job_says_it_shows_the_photo_and_the_phone_header_is_short(browser, server):  # noqa: F811
    busy = Page(browser, server, query="?size=64&iterations=1000&pyramid_start=0")
    busy.pick(PHOTO, ART)
    busy.page.click("#start")
    busy.page.wait_for_function("() => /step \\d+ \\/ 1000/.test(document.getElementById('progress-text').textContent)")

    phone = Page(browser, server, PHONE)
    assert phone.page.locator(".tagline").bounding_box()["height"] <= 40, "the tagline wraps over many lines"
    phone.pick(PHOTO, ART)
    phone.page.click("#start")
    phone.page.wait_for_selector("#badge:not([hidden])")
    assert "not the result yet" in phone.page.inner_text("#badge")
    phone.page.click("#stop")
    busy.page.click("#stop")
    busy.page.wait_for_selector("#start:not([hidden])", timeout=30_000)
    phone.page.wait_for_selector("#start:not([hidden])", timeout=30_000)
    busy.close()
    phone.close()


# ---- additions: masks, paste, one-click paintings, accessibility ----------------------------


def test_a_mask_painted_in_the_page_reaches_the_job(browser, server):  # noqa: F811
    p = Page(browser, server, query="?size=64&iterations=30&pyramid_start=0")
    p.pick(PHOTO, ART)
    p.page.click("#mask-panel summary")
    p.page.fill("#mask-size", "40")
    p.page.fill("#mask-soft", "0")
    p.page.evaluate("document.getElementById('mask-view').scrollIntoView({block: 'center'})")  # clear of the sticky Start bar
    box = p.page.locator("#mask-view").bounding_box()
    # Paint the left third of the photo: the style goes there only.
    for k in range(13):
        y = box["y"] + box["height"] * k / 12
        p.page.mouse.move(box["x"], y)
        p.page.mouse.down()
        p.page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=4)
        p.page.mouse.up()
    # A stroke across the right half, taken back with Undo.
    p.page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    p.page.mouse.down()
    p.page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2, steps=4)
    p.page.mouse.up()
    right = "() => { const c = masks.layers[0].canvas; return c.getContext('2d').getImageData(70, 30, 1, 1).data[3]; }"
    assert p.page.evaluate(right) == 255
    p.page.click("#mask-undo")
    assert p.page.evaluate(right) == 0
    p.run_to_the_end()
    form = p.last_form()
    assert len(form["mask"]) == 1 and "fast" not in form
    mask = Image.open(io.BytesIO(form["mask"][0])).convert("L")
    m = np.asarray(mask, dtype=float) / 255
    assert mask.size == (96, 72) and m[:, :20].mean() > 0.95 and m[:, 40:].mean() < 0.01

    # The picture changed where the mask is white, much less elsewhere.
    job = re.search(r"job=([0-9a-f]{32})", p.page.url).group(1)
    result = np.asarray(Image.open(io.BytesIO(p.page.request.get(f"{server}api/jobs/{job}/result").body())), dtype=float)
    photo = np.asarray(Image.open(io.BytesIO(PHOTO)).resize((64, 48), Image.LANCZOS), dtype=float)
    change = np.abs(result - photo).mean(axis=(0, 2))
    assert change[:12].mean() > 3 * change[34:].mean(), change
    p.close()


def test_a_mask_image_can_be_loaded_for_a_style(browser, server):  # noqa: F811
    p = Page(browser, server)
    p.pick(PHOTO, ART)
    p.page.click("#mask-panel summary")
    half = Image.new("L", (96, 72), 0)
    half.paste(255, (48, 0, 96, 72))
    buf = io.BytesIO()
    half.save(buf, "PNG")
    p.page.set_input_files("#mask-file", {"name": "mask.png", "mimeType": "image/png", "buffer": buf.getvalue()})
    p.page.wait_for_function("() => masks.layers[0].painted")
    p.run_to_the_end()
    sent = Image.open(io.BytesIO(p.last_form()["mask"][0])).convert("L")
    m = np.asarray(sent, dtype=float) / 255
    assert m[:, :46].mean() < 0.02 and m[:, 50:].mean() > 0.98
    p.close()


def test_paste_a_photo_and_one_click_on_a_shipped_painting_with_a_first_look(browser, server):  # noqa: F811
    p = Page(browser, server)
    p.page.evaluate("""async (bytes) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], 'image.png', {type: 'image/png'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
    }""", list(PHOTO))
    p.page.wait_for_selector("#content-thumb:not([hidden])")
    p.page.click("#paintings .painting[aria-label*='Starry Night']")
    p.page.wait_for_selector(".style-card")
    assert "The Starry Night" in p.page.inner_text(".style-name")
    p.run_to_the_end()
    assert p.last_form()["fast"] == ["starry-night"]
    p.close()


def test_the_page_has_no_serious_accessibility_violations_and_works_by_keyboard(browser, server):  # noqa: F811
    axe = Path(__import__("axe_playwright_python").__file__).with_name("axe.min.js").read_text()
    for viewport in (DESKTOP, PHONE):
        p = Page(browser, server, viewport)
        p.pick(PHOTO, ART)
        if viewport is DESKTOP:
            p.run_to_the_end()  # the result, its downloads, the strip and the comparison are checked too
        p.page.click("#mask-panel summary")
        p.page.click("#advanced summary")
        p.page.evaluate(axe)  # axe-core, from the axe-playwright-python package (test extra)
        result = p.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, json.dumps(serious, indent=1)
        p.close()

    # Keyboard only: Tab reaches the photo box, Enter opens the file chooser; a painting is a button.
    p = Page(browser, server)
    p.page.bring_to_front()  # keys reach the focused page only
    for _ in range(10):
        p.page.keyboard.press("Tab")
        if p.page.evaluate("document.activeElement.id") == "content-drop":
            break
    assert p.page.evaluate("document.activeElement.id") == "content-drop"
    # Enter must open the photo's file input. Recorded as the input's click (what opens the chooser)
    # rather than by waiting for Chromium's file-chooser event, which under a loaded CI machine
    # sometimes never fired although the click did (seen once in a fresh-clone run).
    p.page.evaluate("""() => { window.inputClicks = 0;
        document.getElementById('content-input').addEventListener('click', (e) => {
            window.inputClicks++; e.preventDefault(); }); }""")
    p.page.keyboard.press("Enter")
    assert p.page.evaluate("window.inputClicks") == 1
    p.page.keyboard.press(" ")
    assert p.page.evaluate("window.inputClicks") == 2
    p.pick(PHOTO)
    p.page.wait_for_selector("#content-thumb:not([hidden])")
    p.page.focus("#paintings .painting >> nth=1")
    p.page.keyboard.press("Enter")
    p.page.wait_for_selector(".style-card")
    p.close()

"""The HTTP API and the page of `painterly serve` (FastAPI).

Routes (JSON errors look like ``{"detail": "size: 8 is below the minimum 32", "field": "size"}``):

    GET  /                          the page (static files under /static; no network resources)
    GET  /api/params                the parameters (from StyleParams), backbones and server limits
    GET  /api/health                workers, queue length, results on disk
    POST /api/params/check          JSON params -> 200 with the values a job would use, or 422
    GET  /api/paintings             public-domain paintings shipped as one-click styles
    POST /api/jobs                  multipart: content=<file>, style=<file> (repeat), params=<JSON>,
                                    optional mask=<file> (one per style, the CLI's --masks) and
                                    fast=<shipped fast style name> (its picture is the first preview)
                                    -> 202 status; 413 too big, 415 not an image, 422 bad
                                    parameter (names the field), 429 queue full
    GET  /api/jobs/{id}             status (?history=1 adds the loss of every step)
    GET  /api/jobs/{id}/events      server-sent events: status (snapshot), progress, state
    GET  /api/jobs/{id}/preview     the current image as JPEG
    POST /api/jobs/{id}/cancel      stop at the next step (DELETE /api/jobs/{id} does the same)
    GET  /api/jobs/{id}/result      ?format=png|jpeg; 409 until finished, 410 once removed

File names sent by clients are never used as paths: results are named after random job ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..allocator import limit_arenas
from ..errors import ImageError, ParameterError, PixelLimitError
from ..images import MIN_SIDE, check_shape
from ..params import DEFAULT_MODEL, StyleParams
from .jobs import TERMINAL, Job, JobManager, QueueFull, Runner, Settings
from .schema import Limits, describe, params_json_schema, parse_params
from .settings import DEFAULTS

if TYPE_CHECKING:
    from torch import Tensor

STATIC_DIR = Path(__file__).with_name("static")
MB = 2**20

# The page loads nothing from elsewhere; the browser enforces it too.
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@dataclass
class ServerConfig:
    jobs: Settings = field(default_factory=Settings)
    limits: Limits = field(default_factory=Limits)
    max_upload_bytes: int = DEFAULTS.max_upload_bytes  # per file
    max_pixels: int = DEFAULTS.max_pixels  # per image, checked on the header before decoding
    allowed_hosts: tuple[str, ...] | None = None  # Host headers accepted (None: any); see the CLI
    decode_concurrency: int = 2  # decoded photos are large float arrays: bound how many at once
    libraries: tuple[Path, ...] = ()  # indexed folders for the Library page (`serve --library DIR`)
    malloc_arenas: int = 1  # glibc arenas for the whole process (allocator.limit_arenas); 0: glibc's default


class _TooLarge(StarletteHTTPException):
    def __init__(self, detail: str):
        super().__init__(status_code=413, detail=detail)


class _Guard:
    """Pure ASGI middleware: Host allow-list (DNS rebinding), same-origin POSTs (CSRF from other
    sites), a cap on request bodies counted as they arrive, and security headers."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        c = config
        self.max_body = c.max_upload_bytes * (2 * c.limits.max_styles + 1) + MB  # content, styles, a mask each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.config.allowed_hosts is not None and _hostname(host) not in self.config.allowed_hosts:
            return await _send_json(send, 400, {"detail": f"host {host!r} is not served here"})
        if scope["method"] in ("POST", "DELETE", "PUT", "PATCH"):
            origin = headers.get("origin")
            # Browsers always send Origin on POST; "null" (sandboxed frames, file: pages) is refused too.
            if origin and origin.split("://", 1)[-1] != host:
                return await _send_json(send, 403, {"detail": "requests from other web sites are refused"})
            length = headers.get("content-length")
            if length and length.isdigit() and int(length) > self.max_body:
                return await _send_json(send, 413, {"detail": _too_big("request", int(length), self.max_body)})

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge(_too_big("request", received, self.max_body, at_least=True))
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if scope["path"] == "/" or scope["path"].startswith("/static/"):
                    extra.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge as err:
            if not started:
                await _send_json(send, 413, {"detail": err.detail})


async def _send_json(send: Send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _too_big(what: str, size: int, limit: int, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"{what}: upload is {more}{size / MB:.1f} MB, over the {limit / MB:g} MB limit"


def error(status: int, detail: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


# The route table: each nested handler counts towards this function's complexity (split it with the web-app work).
def create_app(  # noqa: C901
    config: ServerConfig | None = None,
    *,
    params_cls: type = StyleParams,
    runner: Runner | None = None,
) -> FastAPI:
    """The ASGI app. ``params_cls`` is the parameters dataclass; ``runner`` replaces stylize (tests)."""
    config = config or ServerConfig()
    manager = JobManager(config.jobs, runner=runner)
    decode_slots = asyncio.Semaphore(config.decode_concurrency)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One malloc arena for all threads: a long-lived server otherwise grows with every job
        # (issue 12, item 15; the worker also trims the heap after each job).
        limit_arenas(config.malloc_arenas)
        manager.start()
        try:
            yield
        finally:
            await run_in_threadpool(manager.shutdown)

    app = FastAPI(title="painterly", version=__version__, lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.manager = manager
    app.state.config = config
    app.add_middleware(_Guard, config=config)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    from .library import (
        library_router,  # /library and /api/library (an empty list without --library)
    )

    app.include_router(library_router(list(config.libraries), max_upload_bytes=config.max_upload_bytes,
                                      max_pixels=config.max_pixels))

    def get_job(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise StarletteHTTPException(404, f"no job {job_id[:40]!r} (unknown, or removed after it finished)")
        return job

    def urls(job_id: str) -> dict[str, str]:
        base = f"/api/jobs/{job_id}"
        return {
            "status": base, "events": f"{base}/events", "preview": f"{base}/preview", "cancel": f"{base}/cancel",
            "png": f"{base}/result?format=png", "jpeg": f"{base}/result?format=jpeg",
        }

    # Routes returning JSON say response_model=None: FastAPI would otherwise turn their return
    # annotation into a pydantic response model (another schema, another serialiser).
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/api/params", response_model=None)
    async def params_schema() -> dict[str, Any]:
        from ..backbones import list_backbones

        return {
            "fields": describe(params_cls, config.limits),
            "backbones": [
                {"name": s.name, "description": s.description, "weights_available": s.weights_available()}
                for s in list_backbones()
            ],
            "limits": {
                "max_size": config.limits.max_size,
                "max_iterations": config.limits.max_iterations,
                "max_styles": config.limits.max_styles,
                "max_upload_bytes": config.max_upload_bytes,
                "max_pixels": config.max_pixels,
                "idle_timeout": config.jobs.idle_timeout,
                "results_ttl": config.jobs.results_ttl,
            },
            "version": __version__,
        }

    @app.get("/api/paintings", response_model=None)
    async def paintings() -> list[dict[str, Any]]:
        """The public-domain paintings shipped with the page, with the fast style trained on each."""
        fast = _fast_styles()
        return [{**p, "fast": p.get("fast") if p.get("fast") in fast else None} for p in _paintings()]

    @app.get("/api/health", response_model=None)
    async def health() -> dict[str, Any]:
        return {"ok": True, **manager.stats()}

    params_schema_json = params_json_schema(params_cls, config.limits)
    job_form = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["content", "style"],
        "properties": {
            "content": {"type": "string", "format": "binary", "description": "the photo"},
            "style": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "artworks"},
            "params": {"type": "string", "description": "a JSON object; see POST /api/params/check"},
            "mask": {"type": "array", "items": {"type": "string", "format": "binary"},
                     "description": "optional: one mask per style, in order (white: that style goes here)"},
            "fast": {"type": "string", "enum": list(_fast_styles()),
                     "description": "optional: a shipped fast style whose picture is the first preview"},
        },
    }}}}}

    @app.post("/api/params/check", openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": params_schema_json}}}}, response_model=None)
    async def check_params(request: Request) -> dict[str, Any] | JSONResponse:
        """Validate parameters without uploading images: 200 with the values a job would use, or 422."""
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error(422, "params: not valid JSON", field="params")
        try:
            params = parse_params(data, params_cls, config.limits)
        except (ParameterError, TypeError) as err:
            return error(422, str(err), field=getattr(err, "field", None))
        problem = _check_layers(params) or _check_weights(params)
        if problem:
            return error(422, str(problem), field=problem.field)
        return {"params": dataclasses.asdict(params)}

    @app.post("/api/jobs", status_code=202, openapi_extra=job_form)
    async def create_job(request: Request) -> JSONResponse:
        limits = config.limits
        # Starlette answers 400 itself past these counts; below them we name what is wrong.
        form = await request.form(max_files=limits.max_styles + 8, max_fields=16, max_part_size=MB)
        try:
            contents = form.getlist("content")
            styles = [*form.getlist("style"), *form.getlist("styles")]
            masks = form.getlist("mask")
            fast = form.get("fast")
            refused = _parts_refused(list(form.keys()), fast, masks, len(styles))
            if refused:
                return refused
            raw = form.get("params")
            if isinstance(raw, UploadFile):
                raw = (await raw.read(MB + 1)).decode("utf-8", "replace")
            try:
                data = json.loads(raw) if raw not in (None, "") else {}
            except ValueError as err:
                return error(422, f"params: not valid JSON ({err})", field="params")
            try:
                params = parse_params(data, params_cls, limits)
            except (ParameterError, TypeError) as err:
                return error(422, str(err), field=getattr(err, "field", None))

            if len(contents) != 1 or not isinstance(contents[0], UploadFile):
                return error(422, "content: send exactly one content image as a file", field="content")
            if not styles or not all(isinstance(s, UploadFile) for s in styles):
                return error(422, "style: send at least one style image as a file", field="style")
            if len(styles) > limits.max_styles:
                return error(422, f"style: {len(styles)} style images; at most {limits.max_styles}", field="style")
            if params.style_weights is not None and len(params.style_weights) != len(styles):
                n = len(params.style_weights)
                return error(422, f"style_weights: {n} weights for {len(styles)} style images", field="style_weights")
            problem = _check_layers(params) or _check_weights(params)
            if problem:
                return error(422, str(problem), field=problem.field)
            # After everything that is cheap to check (an empty POST is a 422, not a 429), and
            # before spending a second decoding photos.
            if manager.queue_full():
                return error(429, "the queue is full; try again shortly", headers={"retry-after": "5"})

            # Every part is a file by now (checked above and in _parts_refused); the filters say so to mypy.
            uploads = [("content", "content image", contents[0])] + [
                ("style", f"style image {i + 1}", s) for i, s in enumerate(styles) if isinstance(s, UploadFile)
            ] + [("mask", f"mask {i + 1}", m) for i, m in enumerate(masks) if isinstance(m, UploadFile)]
            for form_field, label, up in uploads:
                if up.size is not None and up.size > config.max_upload_bytes:
                    return error(413, _too_big(label, up.size, config.max_upload_bytes), field=form_field)
            images = []
            for form_field, label, up in uploads:
                data_bytes = await up.read(config.max_upload_bytes + 1)
                if len(data_bytes) > config.max_upload_bytes:
                    return error(413, _too_big(label, len(data_bytes), config.max_upload_bytes, True), field=form_field)
                name = label if not up.filename else f"{label} ({_short(up.filename)})"
                target = params.size if form_field != "style" else max(MIN_SIDE, round(params.size * params.style_scale))
                try:
                    async with decode_slots:
                        image = await run_in_threadpool(_decode, data_bytes, name, config.max_pixels, target)
                except ImageError as err:
                    status = 413 if isinstance(err, PixelLimitError) else 415
                    return error(status, str(err), field=form_field)
                except ParameterError as err:
                    return error(422, str(err), field=form_field)
                images.append(image)
        finally:
            await form.close()

        n_styles = len(styles)
        content, style_images, mask_images = images[0], images[1:1 + n_styles], images[1 + n_styles:] or None
        refused = _masks_misshapen(mask_images, content)
        if refused:
            return refused
        async with decode_slots:
            preview = await run_in_threadpool(_initial_preview, content, fast if isinstance(fast, str) else None, params)
        try:
            job = manager.submit(params, content, style_images, preview=preview, masks=mask_images)
        except QueueFull as err:
            return error(429, str(err), headers={"retry-after": "5"})
        body = {**manager.status(job), "urls": urls(job.id)}
        return JSONResponse(body, status_code=202, headers={"location": f"/api/jobs/{job.id}"})

    @app.get("/api/jobs/{job_id}", response_model=None)
    async def job_status(job_id: str, history: bool = False) -> dict[str, Any]:
        job = get_job(job_id)
        return {**manager.status(job, history=history), "urls": urls(job.id)}

    @app.post("/api/jobs/{job_id}/cancel", status_code=202, response_model=None)
    @app.delete("/api/jobs/{job_id}", status_code=202, response_model=None)
    async def cancel_job(job_id: str) -> dict[str, Any]:
        job = get_job(job_id)
        manager.cancel(job, "cancelled")
        return manager.status(job)

    @app.get("/api/jobs/{job_id}/preview")
    async def preview(job_id: str) -> Response:
        job = get_job(job_id)
        data = job.preview
        if data is None:
            raise StarletteHTTPException(409, "no preview yet")
        return Response(data, media_type="image/jpeg", headers={"cache-control": "no-store"})

    @app.get("/api/jobs/{job_id}/result")
    async def result(job_id: str, format: str = "png") -> Response:
        job = get_job(job_id)
        fmt = format.lower()
        if fmt not in ("png", "jpeg", "jpg"):
            return error(422, f"format: {format[:20]!r} is not one of png, jpeg", field="format")
        if job.result_removed:
            return error(410, "the result was removed to keep the results folder small; run the job again")
        if not job.has_result:
            if job.state in TERMINAL:
                return error(409, f"job {job.state} without a picture: {job.message}")
            return error(409, f"job is {job.state}; the result is not ready yet")
        path = job.result_png if fmt == "png" else job.result_jpeg
        try:
            data = await run_in_threadpool(path.read_bytes)  # type: ignore[union-attr]
        except FileNotFoundError:
            return error(410, "the result was removed to keep the results folder small; run the job again")
        ext, media = ("png", "image/png") if fmt == "png" else ("jpg", "image/jpeg")
        disposition = f'attachment; filename="painterly-{job.id[:8]}.{ext}"'
        return Response(data, media_type=media, headers={"content-disposition": disposition, "cache-control": "no-store"})

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request) -> StreamingResponse:
        job = get_job(job_id)
        last = request.headers.get("last-event-id", "")
        start = int(last) if last.isdigit() else 0
        return StreamingResponse(
            _event_stream(manager, job, request, start),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    return app


async def _event_stream(manager: JobManager, job: Job, request: Request, seq: int) -> AsyncIterator[str]:
    """Snapshot first (or when the client fell too far behind), then each event as it happens.

    The stream ends after the job's final state event. While it is open the job counts as watched.
    """
    manager.watch(job, +1)
    try:
        snapshot = seq == 0
        last_write = time.monotonic()
        while True:
            if snapshot:
                status = manager.status(job, history=True)
                seq = status["seq"]
                yield _sse("status", status, seq)
                last_write = time.monotonic()
                snapshot = False
                if status["state"] in TERMINAL:
                    return
            events, complete = manager.events_since(job, seq)
            if events and not complete:
                snapshot = True
                continue
            for s, kind, data in events:
                yield _sse(kind, data, s)
                seq = s
                if kind == "state" and data.get("state") in TERMINAL:
                    return
            if events:
                last_write = time.monotonic()
                continue
            if job.state in TERMINAL and seq >= job.seq:
                return
            if await request.is_disconnected():
                return
            if time.monotonic() - last_write > 5:
                yield ": keep-alive\n\n"  # also how a closed connection is noticed
                last_write = time.monotonic()
            await asyncio.sleep(0.1)
    finally:
        manager.watch(job, -1)


def _sse(kind: str, data: dict, seq: int) -> str:
    return f"id: {seq}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _short(name: str) -> str:
    name = " ".join(str(name).split())
    return name if len(name) <= 60 else name[:57] + "..."


def _decode(data: bytes, name: str, max_pixels: int, long_side: int) -> Tensor:
    """Decode (content sniffed), check the shape the run needs, shrink to the size it will use."""
    from ..io import image_from_bytes, resize_long_side

    image = image_from_bytes(data, name=name, max_pixels=max_pixels)
    h, w = image.shape[-2:]
    # The same rules stylize applies, checked now so the answer is a 422 rather than a failed job.
    check_shape((h, w), long_side, name)
    if max(h, w) > long_side:
        image = resize_long_side(image, long_side)
    return image.contiguous()


def _initial_preview(image: Tensor, fast: str | None = None, params: object = None) -> bytes:
    """What the preview shows until the first step: the photo, or a shipped fast style's picture
    of it (a second on a CPU) as a first look while the optimisation runs."""
    from .jobs import _jpeg

    if fast:
        image = _fast_stylizer(fast)(image)
    return _jpeg(image, quality=85)


def _parts_refused(keys: list[str], fast: object, masks: list, n_styles: int) -> JSONResponse | None:
    """Unknown parts of a job form, and its optional ones: ``fast`` names a shipped fast style
    (never a path) and ``mask`` comes as one image file per style."""
    for key in keys:
        if key not in ("content", "style", "styles", "params", "mask", "fast"):
            name = _short(key) or "form"  # a part without a name still gets a field to point at
            return error(422, f"{name}: unknown form field; send content, style (one or more), params, "
                         "and optionally mask (one per style) and fast", field=name)
    if fast is not None and (not isinstance(fast, str) or fast not in _fast_styles()):
        shown = _short(fast) if isinstance(fast, str) else "a file"
        return error(422, f"fast: {shown!r} is not a shipped fast style; valid: {', '.join(_fast_styles())}",
                     field="fast")
    if masks and len(masks) != n_styles:
        return error(422, f"mask: {len(masks)} masks for {n_styles} style images; send one per style", field="mask")
    if not all(isinstance(m, UploadFile) for m in masks):
        return error(422, "mask: send each mask as an image file", field="mask")
    return None


def _masks_misshapen(masks: list[Tensor] | None, content: Tensor) -> JSONResponse | None:
    """The engine's own rule for masks, checked before queueing (a 422, not a failed job)."""
    from ..style_transfer import _check_aspect

    try:
        for i, m in enumerate(masks or []):
            _check_aspect(m, content, f"mask {i + 1}")
    except ParameterError as err:
        return error(422, str(err), field="mask")
    return None


@functools.cache
def _fast_styles() -> tuple[str, ...]:
    from ..fast.library import shipped_styles

    return tuple(shipped_styles())


@functools.lru_cache(maxsize=2)
def _fast_stylizer(name: str) -> Callable[[Tensor], Tensor]:
    from ..fast.apply import FastStylizer
    from ..fast.library import find_style

    return FastStylizer(find_style(name), runtime="torch", device="cpu")


@functools.cache
def _paintings() -> tuple[dict, ...]:
    """static/paintings/paintings.json: file, title, artist, year, the fast style trained on it."""
    folder = STATIC_DIR / "paintings"
    entries = json.loads((folder / "paintings.json").read_text())
    return tuple({**e, "url": f"/static/paintings/{e['file']}"} for e in entries if (folder / e["file"]).is_file())


def _check_weights(params: Any) -> ParameterError | None:
    """A backbone whose weights are not on this server fails the request, not the job later.

    The message is for a browser: no server paths, no command-line flags.
    """
    from ..backbones import get_spec

    spec = get_spec(params.model)
    if spec.weights_available():
        return None
    return ParameterError(
        f"model: {spec.name} is not available on this server (its weights are not downloaded); choose {DEFAULT_MODEL}",
        field="model",
    )


def _check_layers(params: Any) -> ParameterError | None:
    """Unknown layer names fail the request now rather than the job later."""
    from ..backbones import get_spec
    from ..params import parse_layer_spec
    from ..suggest import unknown_name_message

    spec = get_spec(params.model)
    names = spec.layer_names()
    for field_name in ("content_layers", "style_layers"):
        value = getattr(params, field_name, None)
        if value:
            for layer in parse_layer_spec(value, field_name):
                if layer not in names:
                    return ParameterError(f"{field_name}: {spec.name}: {unknown_name_message('layer', layer, names)}", field=field_name)
    return None

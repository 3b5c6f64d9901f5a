"""The Library page's HTTP API: the folders `painterly serve --library DIR` was started with.

    GET  /library                               the page
    GET  /api/library                           [{"id", "name", "images"}] one per folder
    GET  /api/library/{id}/images               [{"key", "tags", "thumbnail", "file"}] every indexed image
    GET  /api/library/{id}/thumbnail?key=K      the stored JPEG thumbnail
    GET  /api/library/{id}/file?key=K           the image file itself ("use as style" fetches it)
    POST /api/library/{id}/search               multipart: image=<file>, by=style|content, k -> hits
    GET  /api/library/{id}/search?words=W&k=&method=optimise|logits -> {"classes", "hits"}
    GET  /api/library/{id}/map?by=style|content the t-SNE map as PNG

The browser names folders by their number and images by the key the index stores; a key that
is not in the index is a 404, so no path from a request ever reaches the file system.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ImageError, PainterlyError
from ..io import image_from_bytes
from ..search import Library, class_names, collection_map, default_database
from ..search.layout import MIN_MAP_IMAGES
from ..search.query import SearchResult

STATIC_DIR = Path(__file__).with_name("static")


class _Shelf:
    """One served folder: its index, opened once, used by one request at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.library = Library(default_database(folder), threadsafe=True)
        self.lock = threading.Lock()
        self.maps: dict[str, bytes] = {}

    def key_or_404(self, key: str) -> str:
        with self.lock:
            known = self.library.db.has(key)
        if not known:
            raise StarletteHTTPException(404, f"no image {key[:80]!r} in this library")
        return key


# The Library page's route table: each nested handler adds its branches to this one function.
def library_router(folders: list[Path], *, max_upload_bytes: int, max_pixels: int) -> APIRouter:  # noqa: C901
    shelves = [_Shelf(Path(f)) for f in folders]
    router = APIRouter()

    def shelf(library_id: int) -> _Shelf:
        if not 0 <= library_id < len(shelves):
            raise StarletteHTTPException(404, f"no library {library_id}")
        return shelves[library_id]

    # Routes returning JSON say response_model=None: FastAPI would otherwise turn their return
    # annotation into a pydantic response model (another schema, another serialiser).
    @router.get("/library", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "library.html", headers={"cache-control": "no-cache"})

    # Plain `def` routes run in the thread pool: waiting for a shelf's lock never stalls the loop.
    @router.get("/api/library", response_model=None)
    def libraries() -> list[dict[str, Any]]:
        out = []
        for i, s in enumerate(shelves):
            with s.lock:
                out.append({"id": i, "name": s.folder.name or str(s.folder), "images": len(s.library.db)})
        return out

    @router.get("/api/library/{library_id}/images", response_model=None)
    def images(library_id: int) -> list[dict[str, Any]]:
        s = shelf(library_id)
        with s.lock:
            rows = s.library.db.rows()
        base = f"/api/library/{library_id}"
        return [{"key": key, "tags": [{"label": class_names()[i], "score": p} for i, p in row.tags[:3]],
                 "thumbnail": f"{base}/thumbnail?key={_q(key)}", "file": f"{base}/file?key={_q(key)}"}
                for key, row in rows.items()]

    @router.get("/api/library/{library_id}/thumbnail")
    def thumbnail(library_id: int, key: str) -> Response:
        s = shelf(library_id)
        s.key_or_404(key)
        with s.lock:
            data = s.library.db.thumbnail_bytes(key)
        return Response(data, media_type="image/jpeg", headers={"cache-control": "max-age=60"})

    @router.get("/api/library/{library_id}/file")
    def file(library_id: int, key: str) -> FileResponse:
        s = shelf(library_id)
        s.key_or_404(key)
        path = s.library.db.full_path(key)
        if not path.is_file():
            raise StarletteHTTPException(410, f"{key!r} was indexed but is no longer in the folder")
        return FileResponse(path, filename=Path(key).name)

    def hits_json(library_id: int, result: SearchResult) -> dict[str, Any]:
        base = f"/api/library/{library_id}"
        return {"classes": result.classes, "hits": [
            {"key": h.key, "score": round(h.score, 4), "thumbnail": f"{base}/thumbnail?key={_q(h.key)}",
             "file": f"{base}/file?key={_q(h.key)}"} for h in result.hits]}

    @router.get("/api/library/{library_id}/search", response_model=None)
    async def search_words(
        library_id: int, words: str, k: int = 12, method: str = "optimise"
    ) -> dict[str, Any] | JSONResponse:
        s = shelf(library_id)

        def run() -> SearchResult:
            with s.lock:
                return s.library.by_words(words, k=k, method=method)

        try:
            result = await run_in_threadpool(run)
        except PainterlyError as err:
            return JSONResponse({"detail": str(err), "field": "words"}, status_code=422)
        return hits_json(library_id, result)

    @router.post("/api/library/{library_id}/search", response_model=None)
    async def search_image(library_id: int, request: Request) -> dict[str, Any] | JSONResponse:
        s = shelf(library_id)
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("image")
        by = str(form.get("by", "style"))
        try:
            k = int(str(form.get("k", "12")))
        except ValueError:
            return JSONResponse({"detail": "k: must be a whole number", "field": "k"}, status_code=422)
        if not isinstance(upload, UploadFile):
            return JSONResponse({"detail": "image: attach an image file", "field": "image"}, status_code=422)
        data = await upload.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            return JSONResponse({"detail": f"image: larger than {max_upload_bytes // 2**20} MB", "field": "image"},
                                status_code=413)

        def run() -> SearchResult:
            image = image_from_bytes(data, name=upload.filename or "upload", max_pixels=max_pixels)
            with s.lock:
                return s.library.by_image(image, by=by, k=k)

        try:
            result = await run_in_threadpool(run)
        except ImageError as err:
            return JSONResponse({"detail": str(err), "field": "image"}, status_code=415)
        except PainterlyError as err:
            return JSONResponse({"detail": str(err), "field": str(err).split(":")[0]}, status_code=422)
        return hits_json(library_id, result)

    @router.get("/api/library/{library_id}/map")
    async def style_map(library_id: int, by: str = "style") -> Response:
        s = shelf(library_id)
        with s.lock:
            count = len(s.library.db)
        if count < MIN_MAP_IMAGES:
            raise StarletteHTTPException(409, f"a map needs at least {MIN_MAP_IMAGES} images")

        def run() -> bytes:
            with s.lock:
                if by not in s.maps:
                    buffer = io.BytesIO()
                    collection_map(s.library, by=by, size=1200, thumbnail=80).image.save(buffer, format="PNG")
                    s.maps[by] = buffer.getvalue()
                return s.maps[by]

        try:
            png = await run_in_threadpool(run)
        except PainterlyError as err:
            return JSONResponse({"detail": str(err), "field": "by"}, status_code=422)
        return Response(png, media_type="image/png")

    return router


def _q(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="")

"""The live demo page: ``/`` serves index.html and ``/static/*`` its scripts and styles (no build step).

Everything the page needs ships in ``service/static/`` (package data), so it works with no network.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter()
# A route that delegates to StaticFiles (rather than router.mount) survives include_router on every
# FastAPI this project allows; StaticFiles still does the path-traversal checks, ETags and 304s.
_files = StaticFiles(directory=STATIC_DIR)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    # no-cache: the page is tiny, and a stale copy after an upgrade would talk to the new API.
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str, request: Request) -> Response:
    return await _files.get_response(path, request.scope)

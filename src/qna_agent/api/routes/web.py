"""The web page: `/` serves the chat page, `/static/...` its scripts and styles.

Files are revalidated on every load (`no-cache` with an ETag), so a new release is picked up
without stale scripts and without a build step that renames files.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from qna_agent.web import INDEX_HTML, STATIC_DIR

router = APIRouter(include_in_schema=False)

NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/")
async def index() -> FileResponse:
    """The chat page."""
    return FileResponse(INDEX_HTML, media_type="text/html; charset=utf-8", headers=NO_CACHE)


class RevalidatedStaticFiles(StaticFiles):
    """Static files that browsers revalidate (cheap 304s) instead of caching blindly."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def install(app: FastAPI) -> None:
    """Serve the page at `/` and its assets under `/static`."""
    app.include_router(router)
    app.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")

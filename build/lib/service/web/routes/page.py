"""GET /: the chat and FAQ page (plain HTML, CSS and JavaScript; nothing from a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from service.web.state import app_state

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
async def page(request: Request) -> FileResponse:
    response = FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")
    sessions = app_state(request).sessions
    if sessions is not None:  # API keys on and DOCKFAQ_PAGE_PUBLIC: a session instead of a key
        sessions.refresh(request, response)
    return response

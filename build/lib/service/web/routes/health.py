"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.web.schemas import Status
from service.web.state import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process is alive."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def readyz(state: StateDep) -> Status | JSONResponse:
    """The index is loaded and questions can be answered; 503 until then."""
    if state.retriever is None:
        detail = state.load_error or "loading"
        return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)
    return Status(status="ready", index_version=state.retriever.version)

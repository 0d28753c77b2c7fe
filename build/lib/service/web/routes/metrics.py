"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.web.state import StateDep

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Request counts and latencies by route and status, answers and refusals, the index."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

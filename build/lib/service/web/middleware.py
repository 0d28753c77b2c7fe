"""ASGI middleware: every request timed, counted and logged under an id; the body limit."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.web.metrics import Metrics

access_log = logging.getLogger("dockfaq.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Request ids must be unique, not secret: a seeded PRNG instead of a system call per request.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


class RequestMiddleware:
    """Gives every request an id (X-Request-ID honoured and returned) and ``extra_headers``,
    times it, counts it and logs one JSON line. Only method, route, status and timing are
    logged: never headers or bodies, so keys and questions stay out of the logs."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        extra_headers: Callable[[str], list[tuple[bytes, bytes]]] = lambda path: [],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.extra_headers = extra_headers  # path -> headers every response there gets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else f"{_ids.getrandbits(128):032x}"
        status = 500
        started = time.perf_counter()
        extra = self.extra_headers(scope["path"])

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, scope["method"]).observe(elapsed)
            access_log.info(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                }
            )


def _route(scope: Scope) -> str:
    """The route template (/entries/{entry_id}), not the raw path, to keep label sets small."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class BodyLimitMiddleware:
    """Answers 413 to a body over ``limit`` bytes, declared or streamed, before a route reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException passes FastAPI's body parsing untouched and becomes a 413.
                    raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body over {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

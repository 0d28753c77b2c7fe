"""ASGI middleware: request ids and JSON access logs, metrics, and the request body limit."""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("dockfaq.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Request ids must be unique, not secret: a seeded PRNG instead of a system call per request.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


class Metrics:
    """The Prometheus metrics of one app (its own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dockfaq_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dockfaq_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.answers = Counter(
            "dockfaq_answers_total",
            "Questions answered or refused",
            ["outcome"],
            registry=self.registry,
        )
        self.index = Gauge(
            "dockfaq_index_info",
            "The loaded index (value 1)",
            ["index_version"],
            registry=self.registry,
        )
        self.entries = Gauge(
            "dockfaq_index_entries", "Entries in the loaded index", registry=self.registry
        )
        self.cache = Counter(
            "dockfaq_cache_lookups_total",
            "Answer and query-vector cache lookups",
            ["cache", "result"],
            registry=self.registry,
        )
        self.channel_events = Counter(
            "dockfaq_channel_events_total",
            "Chat platform requests by outcome (answered, duplicate, ignored, rejected)",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.channel_posts = Counter(
            "dockfaq_channel_posts_total",
            "Calls to chat platform APIs by outcome (ok, failed)",
            ["platform", "outcome"],
            registry=self.registry,
        )

    def cache_recorder(self, cache: str) -> Callable[[bool], None]:
        hit, miss = self.cache.labels(cache, "hit"), self.cache.labels(cache, "miss")
        return lambda found: (hit if found else miss).inc()

    def watch_embedder(self, source: Callable[[], object]) -> None:
        """Expose the micro-batcher's model calls and texts (their ratio is the batch size)."""
        self.registry.register(_BatchingCollector(source))


class _BatchingCollector(Collector):
    def __init__(self, source: Callable[[], object]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        embedder = self.source()
        yield CounterMetricFamily(
            "dockfaq_embedding_batches",
            "Model calls made to embed questions",
            value=getattr(embedder, "batches", 0),
        )
        yield CounterMetricFamily(
            "dockfaq_embedding_texts",
            "Questions embedded by those calls",
            value=getattr(embedder, "texts", 0),
        )


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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, and the message or the logged dict."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(record.msg, dict):
            line.update(record.msg)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for dockfaq's own loggers and uvicorn's.

    Lines are flushed at least every half second, not one write per request.
    """
    handler = _BatchedStream()
    handler.setFormatter(JsonFormatter())
    for name in ("dockfaq", "service", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


class _BatchedStream(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that leaves flushing to a timer: one system call per batch of lines
    instead of one per request. Errors and worse are flushed at once."""

    INTERVAL = 0.5

    def __init__(self) -> None:
        super().__init__()
        self._pending = False
        flusher = threading.Thread(target=self._flush_often, name="log-flush", daemon=True)
        flusher.start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                self._pending = True
            if record.levelno >= logging.ERROR:
                self.flush()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if self._pending:
            self._pending = False
            super().flush()

    def _flush_often(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            self.flush()


def _route(scope: Scope) -> str:
    """The route template (/entries/{entry_id}), not the raw path, to keep label sets small."""
    route = scope.get("route")
    path: Any = getattr(route, "path", None)
    return str(path) if path else "unmatched"


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

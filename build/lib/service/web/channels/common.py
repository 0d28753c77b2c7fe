"""What every chat platform's routes share: refusing unverified requests, counting outcomes,
asking, and calling the platform's API without ever blocking."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from service import text
from service.chat import Question
from service.errors import NotReady
from service.web.channels.rendering import LABELS
from service.web.schemas import MAX_MESSAGE_CHARS, ChatResponse
from service.web.state import AppState

log = logging.getLogger("service.web.channels")

# An event id is remembered this long, so a redelivered event is not answered twice.
DEDUP_SECONDS = 2 * 3600


def not_configured(platform: str, *settings: str) -> HTTPException:
    names = " and ".join(f"DOCKFAQ_{name.upper()}" for name in settings)
    return HTTPException(404, f"{platform} is not configured: set {names}")


def unauthorized(state: AppState, platform: str, why: str, tell: bool = True) -> HTTPException:
    """A 401 that says ``why`` (in the log always, in the reply only if ``tell``)."""
    state.metrics.channel_events.labels(platform, "rejected").inc()
    log.warning("%s request rejected: %s", platform, why)
    return HTTPException(401, f"{platform} request rejected" + (f": {why}" if tell else ""))


def recent(timestamp: str, window: float, per_second: int = 1) -> bool:
    """``timestamp`` is a Unix time (in seconds, or ``per_second`` units) within ``window``
    seconds of now, written as a platform writes one: ASCII digits, at most 13 of them."""
    if not re.fullmatch(r"[0-9]{1,13}", timestamp):
        return False
    return abs(time.time() - int(timestamp) / per_second) <= window


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: a field of the wrong type in an
    event reads as missing."""
    return value if isinstance(value, dict) else {}


def mappings(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in ``value`` if it is a list, else none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def count(state: AppState, platform: str, outcome: str) -> None:
    state.metrics.channel_events.labels(platform, outcome).inc()


@dataclass(frozen=True)
class Notice:
    """What a platform posts instead of an answer: an empty or overlong question, or a
    server that is still loading its index."""

    text: str
    language: str


def _problem(question: str) -> str | None:
    """The label of the reply for a question that cannot be asked, else None."""
    if not question.strip():
        return "empty"
    if len(question) > MAX_MESSAGE_CHARS:
        return "too_long"
    return None


async def answer_or_notice(
    state: AppState, question: str, conversation_id: str
) -> ChatResponse | Notice:
    """The answer every platform renders in its own way, or the notice to post instead."""
    language = text.detect_language(question)
    issue = _problem(question)
    if issue:
        return Notice(LABELS[language][issue], language)
    try:
        return await ask(state, question, conversation_id)
    except NotReady:
        return Notice(LABELS[language]["starting"], language)


async def ask(state: AppState, question: str, conversation_id: str) -> ChatResponse:
    """The same answer /chat gives (and the same stored turn, so feedback works).

    Raises NotReady while the index loads.
    """
    retriever = state.retriever
    if retriever is None or state.store is None:
        raise NotReady(state.load_error or "the index is still loading")
    asked = Question(message=question.strip(), conversation_id=conversation_id[:128])
    return ChatResponse.of(await run_in_threadpool(state.chat.ask, retriever, asked))


async def call(
    state: AppState,
    platform: str,
    url: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    accepted: Callable[[dict[str, Any]], bool] = lambda body: True,
) -> dict[str, Any] | None:
    """POST JSON to a platform API; the reply's JSON, or None when the call failed.

    Failures (refused, timed out, non-2xx, not JSON, or an error the platform reports in a
    200 body, which ``accepted`` recognises) are logged and counted, never raised: a platform
    outage must not break dockfaq.
    """
    client = state.http
    assert client is not None, "the HTTP client opens with the app"
    try:
        reply = await client.post(url, json=dict(payload), headers=dict(headers or {}))
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        if not isinstance(body, dict) or not accepted(body):
            raise ValueError(f"the platform answered {str(body)[:200]}")
    except (httpx.HTTPError, ValueError) as exc:
        state.metrics.channel_posts.labels(platform, "failed").inc()
        log.error("%s API call to %s failed: %s", platform, _path(url), _describe(exc))
        return None
    state.metrics.channel_posts.labels(platform, "ok").inc()
    return body


def _path(url: str) -> str:
    # Never log query strings: some platform URLs carry tokens there.
    return re.sub(r"\?.*$", "", url)


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

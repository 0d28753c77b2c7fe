"""What every chat platform shares: asking, rendering an answer as chat Markdown, fitting it
into the platform's length limit, and calling the platform's API without ever blocking."""

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
from service.web.schemas import MAX_MESSAGE_CHARS, ChatResponse, Citation
from service.web.state import AppState

log = logging.getLogger("service.web.channels")

# An event id is remembered this long, so a redelivered event is not answered twice.
DEDUP_SECONDS = 2 * 3600

LABELS = {
    "en": {
        "sources": "Sources",
        "see": "See",
        "more": "Read the full answer",
        "cut": "(shortened)",
        "starting": "dockfaq is still loading its index; please ask again in a moment.",
        "empty": "Ask me a Docker question, for example: "
        "what is the difference between an image and a container?",
        "too_long": f"Please keep questions under {MAX_MESSAGE_CHARS} characters.",
        "helpful": "Helpful",
        "unhelpful": "Not helpful",
        "thanks": "Thanks for the feedback!",
    },
    "zh": {
        "sources": "来源",
        "see": "参见",
        "more": "查看完整回答",
        "cut": "（内容较长，已截断）",
        "starting": "dockfaq 正在加载索引，请稍后再问。",
        "empty": "请问一个 Docker 问题，例如：镜像和容器有什么区别？",
        "too_long": f"问题请不要超过 {MAX_MESSAGE_CHARS} 个字符。",
        "helpful": "有帮助",
        "unhelpful": "没帮助",
        "thanks": "感谢反馈！",
    },
}


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


def full_answer_url(public_url: str, response: ChatResponse) -> str | None:
    """Where the whole answer can be read: the entry on dockfaq's page, else its source."""
    cited = response.citations or response.alternatives
    if not cited:
        return public_url or None
    if public_url:
        return f"{public_url}/#/entry/{cited[0].id}"
    return cited[0].url


def sources(response: ChatResponse) -> list[Citation]:
    """The entries to link under the answer: its citations, or a refusal's alternatives."""
    return response.citations if response.answered else response.alternatives


def markdown(response: ChatResponse, public_url: str, limit: int) -> str:
    """The answer as chat Markdown with numbered source links, at most ``limit`` characters."""
    labels = LABELS[response.language]
    cited = sources(response)
    links = [f"[{c.n}] [{c.title}]({_link(c, public_url)})" for c in cited]
    footer = ""
    if links:
        heading = labels["sources"] if response.answered else labels["see"]
        footer = f"\n\n**{heading}:**\n" + "\n".join(f"- {link}" for link in links)
    body = fit(response.answer, limit - len(footer), response, public_url)
    return body + footer if len(body) + len(footer) <= limit else fit(body, limit, response, "")


def _link(citation: Citation, public_url: str) -> str:
    if citation.url:
        return citation.url
    return f"{public_url}/#/entry/{citation.id}" if public_url else citation.id


def markdown_link(text: str, url: str) -> str:
    return f"[{text}]({url})"


def fit(
    text: str,
    limit: int,
    response: ChatResponse,
    public_url: str,
    link: Callable[[str, str], str] = markdown_link,
) -> str:
    """``text`` itself when it fits; else cut at a paragraph, line or sentence end, with any
    open code block closed and a link to the rest, written by ``link(text, url)``."""
    if len(text) <= limit:
        return text
    labels = LABELS[response.language]
    url = full_answer_url(public_url, response)
    tail = f"\n\n… {labels['cut']}" + (f" {link(labels['more'], url)}" if url else "")
    budget = max(limit - len(tail) - len("\n```"), 0)
    head = cut(text, budget)
    if head.count("```") % 2:
        head += "\n```"
    return (head + tail)[:limit]


def cut(text: str, budget: int) -> str:
    """At most ``budget`` characters of ``text``, ending at the latest natural boundary."""
    window = text[:budget]
    for boundary in ("\n\n", "\n"):
        at = window.rfind(boundary)
        if at >= budget // 2:
            return window[:at].rstrip()
    sentence = max(window.rfind(mark) for mark in (". ", "。", "！", "？", "! ", "? "))
    if sentence >= budget // 2:
        return window[: sentence + 1].rstrip()
    space = window.rfind(" ")
    return window[:space].rstrip() if space >= budget // 2 else window.rstrip()


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

"""POST /chat and /chat/stream: a question in, a cited answer (or a refusal) out."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi import APIRouter, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from service.answer import Answer, answer
from service.conversations import ConversationStore, Turn, now
from service.retrieval import Retriever
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import ChatRequest, ChatResponse
from service.web.state import AppState, RetrieverDep, SettingsDep, StateDep, StoreDep

router = APIRouter(tags=["chat"], route_class=StrictJSONRoute)


@router.post("/chat", response_model=ChatResponse)
async def chat(
    request: ChatRequest, retriever: RetrieverDep, store: StoreDep, state: StateDep
) -> Response:
    """Answer a question from the corpus, with citations; `answered` is false when it cannot.
    Pass the returned `conversation_id` back to ask follow-up questions."""
    response = None
    if request.conversation_id is None and store.local:
        # A repeated question is answered right here: a cache lookup and a local SQLite
        # insert (microseconds) are cheaper than the trip through the thread pool.
        cached = state.answers.get(cache_key(request, retriever))
        if cached is not None:
            response = remember(request, secrets.token_hex(16), cached, store, state)
    if response is None:
        lookup = request.conversation_id is not None or not store.local  # not looked up yet
        response = await run_in_threadpool(respond, request, retriever, store, state, lookup)
    # Serialised once, from the model built just now (FastAPI would dump, re-validate and
    # re-encode it: a third of what a cached answer costs).
    return Response(response.model_dump_json(), media_type="application/json")


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_stream(
    request: ChatRequest,
    retriever: RetrieverDep,
    settings: SettingsDep,
    store: StoreDep,
    state: StateDep,
) -> EventSourceResponse:
    """The same as /chat, as Server-Sent Events: `meta`, then `delta` chunks, then `done`."""
    response = await run_in_threadpool(respond, request, retriever, store, state)
    return EventSourceResponse(_events(response))


async def _events(response: ChatResponse) -> AsyncIterator[ServerSentEvent]:
    body = response.model_dump()
    meta = {k: body[k] for k in ("conversation_id", "message_id", "citations")}
    yield ServerSentEvent(data=json.dumps(meta, ensure_ascii=False), event="meta")
    for chunk in chunks(response.answer):
        yield ServerSentEvent(data=json.dumps({"text": chunk}, ensure_ascii=False), event="delta")
    yield ServerSentEvent(data=json.dumps(body, ensure_ascii=False), event="done")


def chunks(markdown: str) -> list[str]:
    """Split an answer into stream pieces (lines and sentences) that join back exactly."""
    return [piece for piece in re.split(r"(?<=[\n。！？.!?])", markdown) if piece]


def cache_key(request: ChatRequest, retriever: Retriever) -> tuple[object, ...]:
    """Same words (spacing aside), language, top_k and topic, against the same index version."""
    words = " ".join(request.message.split())
    return (retriever.version, words, request.language, request.top_k, request.topic)


def respond(
    request: ChatRequest,
    retriever: Retriever,
    store: ConversationStore,
    state: AppState,
    lookup: bool = True,
) -> ChatResponse:
    """Answer with the conversation's earlier questions as context, and remember the turn.

    A question without earlier turns is answered from the cache when it was asked before;
    ``lookup=False`` when the caller already looked there.
    """
    conversation_id = request.conversation_id or secrets.token_hex(16)
    history = (
        [t.question for t in store.history(conversation_id)] if request.conversation_id else []
    )
    key = None if history else cache_key(request, retriever)
    result = state.answers.get(key) if key and lookup else None
    if result is None:
        result = answer(
            retriever,
            request.message,
            top_k=request.top_k,
            topic=request.topic,
            language=request.language,
            threshold=state.settings.confidence_threshold,
            history=history,
        )
        if key:
            state.answers.put(key, result)
    return remember(request, conversation_id, result, store, state)


def remember(
    request: ChatRequest,
    conversation_id: str,
    result: Answer,
    store: ConversationStore,
    state: AppState,
) -> ChatResponse:
    """Store the turn (so feedback and follow-ups find it) and build the response."""
    message_id = secrets.token_hex(16)
    state.metrics.answers.labels("answered" if result.answered else "refused").inc()
    first = result.citations[0] if result.citations else None
    store.add_turn(
        Turn(
            message_id=message_id,
            conversation_id=conversation_id,
            question=request.message,
            language=result.language,
            answered=result.answered,
            confidence=result.confidence,
            entry_id=first.id if first else None,
            topic=first.topic if first else None,
            created_at=now(),
        )
    )
    return ChatResponse(
        conversation_id=conversation_id,
        message_id=message_id,
        answered=result.answered,
        answer=result.text,
        language=result.language,  # type: ignore[arg-type]
        confidence=result.confidence,
        citations=[asdict(c) for c in result.citations],  # type: ignore[misc]
        alternatives=[asdict(c) for c in result.alternatives],  # type: ignore[misc]
        index_version=result.index_version,
    )

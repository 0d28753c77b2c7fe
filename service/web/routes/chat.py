"""POST /chat and /chat/stream: a question in, a cited answer (or a refusal) out."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from service.answer import Answer, answer
from service.conversations import HISTORY_TURNS, ConversationStore, Turn, now
from service.errors import UnknownConversation
from service.retrieval import Retriever
from service.web import security
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import (
    ChatRequest,
    ChatResponse,
    ConversationResponse,
    ConversationTurn,
)
from service.web.state import AppState, RetrieverDep, SettingsDep, StateDep, StoreDep

router = APIRouter(tags=["chat"], route_class=StrictJSONRoute)
# Conversation ids this server issues (new_id); platforms' ids ("slack:T1:C1:ts") never match.
ISSUED_ID = re.compile(r"[0-9a-f]{32}")
# The owner of chat platforms' conversations: no HTTP caller has it.
PLATFORM = "platform"


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={404: {"description": "conversation_id is not one this caller was given"}},
)
async def chat(
    request: ChatRequest,
    retriever: RetrieverDep,
    store: StoreDep,
    state: StateDep,
    http: Request,
) -> Response:
    """Answer a question from the corpus, with citations; `answered` is false when it cannot.
    Pass the returned `conversation_id` back to ask follow-up questions."""
    response, caller = None, security.owner(http)
    if request.conversation_id is None and store.local:
        # A repeated question is answered right here: a cache lookup and a local SQLite
        # insert (microseconds) are cheaper than the trip through the thread pool.
        cached = state.answers.get(cache_key(request, retriever))
        if cached is not None:
            response = remember(request, new_id(), cached, store, state, caller)
    if response is None:
        lookup = request.conversation_id is not None or not store.local  # not looked up yet
        response = await run_in_threadpool(
            respond, request, retriever, store, state, lookup, caller
        )
    # Serialised once, from the model built just now (FastAPI would dump, re-validate and
    # re-encode it: a third of what a cached answer costs).
    return Response(response.model_dump_json(), media_type="application/json")


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        404: {"description": "conversation_id is not one this caller was given"},
    },
)
async def chat_stream(
    request: ChatRequest,
    retriever: RetrieverDep,
    settings: SettingsDep,
    store: StoreDep,
    state: StateDep,
    http: Request,
) -> EventSourceResponse:
    """The same as /chat, as Server-Sent Events: `meta`, then `delta` chunks, then `done`."""
    caller = security.owner(http)
    response = await run_in_threadpool(respond, request, retriever, store, state, True, caller)
    return EventSourceResponse(_events(response))


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationResponse,
    responses={404: {"description": "Not a conversation this caller was given"}},
)
async def conversation(
    conversation_id: str, store: StoreDep, http: Request
) -> ConversationResponse:
    """The turns of a conversation, oldest first (its last 20)."""
    turns = await run_in_threadpool(store.history, conversation_id, HISTORY_TURNS)
    if not _belongs(turns, security.owner(http)):
        raise UnknownConversation("unknown conversation_id")
    return ConversationResponse(
        conversation_id=conversation_id,
        turns=[
            ConversationTurn(
                message_id=t.message_id,
                question=t.question,
                answer=t.answer,
                answered=t.answered,
                language=t.language,  # type: ignore[arg-type]
                citations=json.loads(t.citations),
                created_at=t.created_at,
            )
            for t in turns
        ],
    )


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
    owner: str = PLATFORM,
) -> ChatResponse:
    """Answer with the conversation's earlier questions as context, and remember the turn.

    A question without earlier turns is answered from the cache when it was asked before;
    ``lookup=False`` when the caller already looked there. ``owner``: the HTTP caller (see
    security.owner), who may only continue a conversation this server gave them
    (UnknownConversation otherwise); a chat platform (PLATFORM) names its own conversations.
    """
    conversation_id = request.conversation_id or new_id()
    turns = store.history(conversation_id) if request.conversation_id else []
    if owner != PLATFORM and request.conversation_id and not _belongs(turns, owner):
        # Never issued, expired, a platform's or someone else's: one answer for all, so that
        # a guess confirms nothing.
        raise UnknownConversation("unknown conversation_id: start a new conversation without one")
    history = [t.question for t in turns]
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
    return remember(request, conversation_id, result, store, state, owner)


def _belongs(turns: list[Turn], owner: str) -> bool:
    return (
        bool(turns)
        and ISSUED_ID.fullmatch(turns[-1].conversation_id) is not None
        and (turns[-1].owner == owner)
    )


def new_id() -> str:
    return secrets.token_hex(16)


def remember(
    request: ChatRequest,
    conversation_id: str,
    result: Answer,
    store: ConversationStore,
    state: AppState,
    owner: str,
) -> ChatResponse:
    """Store the turn (so feedback and follow-ups find it) and build the response."""
    message_id = secrets.token_hex(16)
    state.metrics.answers.labels("answered" if result.answered else "refused").inc()
    first = result.citations[0] if result.citations else None
    cited = [c.as_dict() for c in result.citations]
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
            owner=owner,
            answer=result.text,
            citations=json.dumps(cited, ensure_ascii=False),
        )
    )
    return ChatResponse(
        conversation_id=conversation_id,
        message_id=message_id,
        answered=result.answered,
        answer=result.text,
        language=result.language,  # type: ignore[arg-type]
        confidence=result.confidence,
        citations=cited,  # type: ignore[arg-type]
        alternatives=[c.as_dict() for c in result.alternatives],  # type: ignore[misc]
        index_version=result.index_version,
    )

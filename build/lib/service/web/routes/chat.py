"""POST /chat and /chat/stream: a question in, a cited answer (or a refusal) out; and
GET /conversations/{id}, the turns so far."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from service.chat import Question, belongs
from service.conversations import HISTORY_TURNS
from service.errors import UnknownConversation
from service.web import security
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import (
    ChatRequest,
    ChatResponse,
    ConversationResponse,
    ConversationTurn,
)
from service.web.state import ChatDep, RetrieverDep, StoreDep
from service.web.streaming import chunks

router = APIRouter(tags=["chat"], route_class=StrictJSONRoute)


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={404: {"description": "conversation_id is not one this caller was given"}},
)
async def chat(
    request: ChatRequest, retriever: RetrieverDep, chat: ChatDep, http: Request
) -> Response:
    """Answer a question from the corpus, with citations; `answered` is false when it cannot.
    Pass the returned `conversation_id` back to ask follow-up questions."""
    question, caller = _question(request), security.owner(http)
    # A repeated question is answered right here: a cache lookup and a local SQLite insert
    # (microseconds) are cheaper than the trip through the thread pool.
    local = chat.store.local
    reply = chat.cached(retriever, question, caller) if local else None
    if reply is None:
        looked_up = local and question.conversation_id is None
        reply = await run_in_threadpool(chat.ask, retriever, question, caller, looked_up)
    # Serialised once, from the model built just now (FastAPI would dump, re-validate and
    # re-encode it: a third of what a cached answer costs).
    return Response(ChatResponse.of(reply).model_dump_json(), media_type="application/json")


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        404: {"description": "conversation_id is not one this caller was given"},
    },
)
async def chat_stream(
    request: ChatRequest, retriever: RetrieverDep, chat: ChatDep, http: Request
) -> EventSourceResponse:
    """The same as /chat, as Server-Sent Events: `meta`, then `delta` chunks, then `done`."""
    question, caller = _question(request), security.owner(http)
    reply = await run_in_threadpool(chat.ask, retriever, question, caller)
    return EventSourceResponse(_events(ChatResponse.of(reply)))


def _question(request: ChatRequest) -> Question:
    return Question(
        message=request.message,
        conversation_id=request.conversation_id,
        top_k=request.top_k,
        topic=request.topic,
        language=request.language,
    )


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
    if not belongs(turns, security.owner(http)):
        raise UnknownConversation("unknown conversation_id")
    return ConversationResponse(
        conversation_id=conversation_id,
        turns=[
            ConversationTurn(
                message_id=t.message_id,
                question=t.question,
                answer=t.answer,
                answered=t.answered,
                language=t.language,
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

"""OpenAI-compatible chat completions, so any OpenAI client or chat front end can ask dockfaq."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from service.chat import Question
from service.web import security
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import MAX_MESSAGE_CHARS, CompletionRequest
from service.web.state import ChatDep, RetrieverDep
from service.web.streaming import chunks

router = APIRouter(prefix="/v1", tags=["openai"], route_class=StrictJSONRoute)
MODEL = "dockfaq"


@router.get("/models")
def models() -> dict[str, Any]:
    """The one model this server offers."""
    return {"object": "list", "data": [_model()]}


def _model() -> dict[str, Any]:
    return {"id": MODEL, "object": "model", "created": 0, "owned_by": "dockfaq"}


@router.post(
    "/chat/completions",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}},
)
async def completions(
    request: CompletionRequest, retriever: RetrieverDep, chat: ChatDep, http: Request
) -> dict[str, Any] | EventSourceResponse:
    """The last user message is the question; earlier user messages are the conversation.
    The extra top-level field `citations` carries the sources (on the last chunk when streaming)."""
    questions = [m.text() for m in request.messages if m.role == "user" and m.text().strip()]
    if not questions:
        raise _invalid("messages must contain a user message with text")
    if len(questions[-1]) > MAX_MESSAGE_CHARS:
        raise _invalid(f"the last user message is over {MAX_MESSAGE_CHARS} characters")
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    question = Question(message=questions[-1], history=questions[:-1])
    reply = await run_in_threadpool(
        chat.ask, retriever, question, security.owner(http), message_id=completion_id
    )
    result = reply.answer
    citations = [c.as_dict() for c in result.citations or result.alternatives]
    if request.stream:
        return EventSourceResponse(_stream(completion_id, result.text, citations))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(questions[-1], result.text),
        "citations": citations,
    }


async def _stream(
    completion_id: str, text: str, citations: list[dict[str, Any]]
) -> AsyncIterator[ServerSentEvent]:
    created = int(time.time())

    def chunk(delta: dict[str, str], finish: str | None = None, **extra: Any) -> ServerSentEvent:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return ServerSentEvent(data=json.dumps(body, ensure_ascii=False))

    yield chunk({"role": "assistant", "content": ""})
    for piece in chunks(text):
        yield chunk({"content": piece})
    yield chunk({}, "stop", citations=citations)
    yield ServerSentEvent(data="[DONE]")


def _invalid(message: str) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own validation errors."""
    return RequestValidationError(
        [{"loc": ("body", "messages"), "msg": message, "type": "value_error", "input": None}]
    )


def _usage(question: str, text: str) -> dict[str, int]:
    """Word counts: dockfaq has no tokenizer-priced model, but clients expect the field."""
    prompt, completion = len(question.split()), len(text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }

"""POST /chat: one question in, one cited answer (or a refusal) out."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter

from service.answer import answer
from service.web.schemas import ChatRequest, ChatResponse
from service.web.state import RetrieverDep, SettingsDep

router = APIRouter(tags=["chat"])


@router.post("/chat", response_model=ChatResponse)
def chat(request: ChatRequest, retriever: RetrieverDep, settings: SettingsDep) -> ChatResponse:
    """Answer a question from the corpus, with citations; `answered` is false when it cannot."""
    result = answer(
        retriever,
        request.message,
        top_k=request.top_k,
        topic=request.topic,
        language=request.language,
        threshold=settings.confidence_threshold,
    )
    return ChatResponse(
        conversation_id=request.conversation_id or uuid.uuid4().hex,
        message_id=uuid.uuid4().hex,
        answered=result.answered,
        answer=result.text,
        language=result.language,  # type: ignore[arg-type]
        confidence=result.confidence,
        citations=[asdict(c) for c in result.citations],  # type: ignore[misc]
        alternatives=[asdict(c) for c in result.alternatives],  # type: ignore[misc]
        index_version=result.index_version,
    )

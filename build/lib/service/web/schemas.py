"""Request and response bodies of the HTTP API (the contract in DESIGN.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.chat import Reply
from service.corpus import Topic
from service.text import Language

MAX_MESSAGE_CHARS = 2000


# At least one character that is not a space, tab or line break (JSON Schema and pydantic read
# this class the same way, unlike \s).
NOT_BLANK = r"[^ \t\n\r]"


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, pattern=NOT_BLANK)
    conversation_id: str | None = Field(default=None, min_length=1, max_length=128)
    top_k: int = Field(default=3, ge=1, le=10, strict=True)  # true is not 1
    topic: Topic | None = None
    language: Language | None = None


class Citation(BaseModel):
    n: int
    id: str
    title: str
    topic: str
    language: Language
    url: str | None
    snippet: str
    score: float


class ChatResponse(BaseModel):
    conversation_id: str
    message_id: str
    answered: bool
    answer: str
    language: Language
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation]
    alternatives: list[Citation]
    index_version: str

    @classmethod
    def of(cls, reply: Reply) -> ChatResponse:
        result = reply.answer
        return cls.model_validate(
            {
                "conversation_id": reply.conversation_id,
                "message_id": reply.message_id,
                "answered": result.answered,
                "answer": result.text,
                "language": result.language,
                "confidence": result.confidence,
                "citations": reply.citations,
                "alternatives": [c.as_dict() for c in result.alternatives],
                "index_version": result.index_version,
            }
        )


class ConversationTurn(BaseModel):
    message_id: str
    question: str
    answer: str  # "" for turns stored by versions that kept no answer text
    answered: bool
    language: Language
    citations: list[Citation]
    created_at: float


class ConversationResponse(BaseModel):
    conversation_id: str
    turns: list[ConversationTurn]


class SearchResult(BaseModel):
    id: str
    title: str
    topic: str
    language: Language
    snippet: str
    score: float
    url: str | None


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    index_version: str


class Status(BaseModel):
    status: str
    index_version: str | None = None


class FeedbackRequest(BaseModel):
    message_id: str = Field(min_length=1, max_length=128)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


class FeedbackResponse(BaseModel):
    status: Literal["recorded"]
    message_id: str


class EntryVoteRequest(BaseModel):
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


class EntryVoteResponse(BaseModel):
    status: Literal["recorded"]
    entry_id: str


class OpenAIMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, object]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class CompletionRequest(BaseModel):
    """The OpenAI chat-completions request; sampling options are accepted and ignored."""

    model_config = {"extra": "allow"}

    model: str = "dockfaq"
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = Field(default=False, strict=True)


class Bilingual(BaseModel):
    en: str
    zh: str


class EntrySummary(BaseModel):
    id: str
    topic: str
    title: Bilingual


class EntryList(BaseModel):
    entries: list[EntrySummary]
    index_version: str


class EntryDetail(EntrySummary):
    url: str | None
    questions: dict[Language, list[str]]
    answer: Bilingual

"""The conversation use case: a question, maybe inside a conversation, to a remembered answer.

Every front end asks through ``Chat``: /chat, /chat/stream, /v1/chat/completions and the chat
platforms. It owns the history lookup, who may continue a conversation, the answer cache,
answering, the stored turn with its ids, and the answered/refused count.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from service.answer import Answer, answer
from service.cache import LRUCache
from service.conversations import ConversationStore, Turn, now
from service.corpus import Topic
from service.errors import UnknownConversation
from service.retrieval import Retriever
from service.text import Language

# Conversation ids this server issues (new_id); platforms' ids ("slack:T1:C1:ts") never match.
ISSUED_ID = re.compile(r"[0-9a-f]{32}")
# The owner of chat platforms' conversations: no HTTP caller has it.
PLATFORM = "platform"


@dataclass(frozen=True)
class Question:
    """What a caller asks. ``history``: earlier questions the caller keeps itself (an OpenAI
    client sends them with every request); None: the stored conversation's, if any."""

    message: str
    conversation_id: str | None = None
    top_k: int = 3
    topic: Topic | None = None
    language: Language | None = None
    history: Sequence[str] | None = None


@dataclass(frozen=True)
class Reply:
    """The answer, and the ids under which its turn was stored."""

    conversation_id: str
    message_id: str
    answer: Answer
    citations: list[dict[str, Any]]  # the answer's citations as plain objects, as stored


class Chat:
    """Conversations over one store: ``ask`` answers and remembers; ``cached`` is the cheap
    path for a repeated question that starts a conversation."""

    def __init__(
        self,
        store: ConversationStore,
        answers: LRUCache[Answer],
        threshold: float | None,
        counted: Callable[[bool], None] = lambda answered: None,
    ) -> None:
        self.store = store
        self.answers = answers  # questions asked without earlier turns, for one index version
        self.threshold = threshold
        self.counted = counted  # called with `answered` for every reply

    def cached(self, retriever: Retriever, question: Question, owner: str) -> Reply | None:
        """The reply to a question asked before, outside any conversation; None otherwise.
        Cheap enough for the event loop when the store is local."""
        if question.conversation_id is not None or question.history:
            return None
        found = self.answers.get(_cache_key(question, retriever))
        return None if found is None else self._remember(question, new_id(), found, owner)

    def ask(
        self,
        retriever: Retriever,
        question: Question,
        owner: str = PLATFORM,
        looked_up: bool = False,
        message_id: str | None = None,
    ) -> Reply:
        """Answer with the conversation's earlier questions as context, and remember the turn.

        ``owner``: the HTTP caller (a hash of its key, "" with keys off), who may only continue
        a conversation this server gave them (UnknownConversation otherwise); a chat platform
        (PLATFORM) names its own conversations. ``looked_up``: ``cached`` already missed.
        """
        conversation_id = question.conversation_id or new_id()
        history = list(question.history or [])
        if question.conversation_id and question.history is None:
            turns = self.store.history(conversation_id)
            if owner != PLATFORM and not belongs(turns, owner):
                # Never issued, expired, a platform's or someone else's: one answer for all,
                # so that a guess confirms nothing.
                raise UnknownConversation(
                    "unknown conversation_id: start a new conversation without one"
                )
            history = [t.question for t in turns]
        key = None if history else _cache_key(question, retriever)
        result = self.answers.get(key) if key and not looked_up else None
        if result is None:
            result = answer(
                retriever,
                question.message,
                top_k=question.top_k,
                topic=question.topic,
                language=question.language,
                threshold=self.threshold,
                history=history,
            )
            if key:
                self.answers.put(key, result)
        return self._remember(question, conversation_id, result, owner, message_id)

    def _remember(
        self,
        question: Question,
        conversation_id: str,
        result: Answer,
        owner: str,
        message_id: str | None = None,
    ) -> Reply:
        """Store the turn, so that feedback and follow-ups find it."""
        message_id = message_id or secrets.token_hex(16)
        self.counted(result.answered)
        first = result.citations[0] if result.citations else None
        cited = [c.as_dict() for c in result.citations]
        self.store.add_turn(
            Turn(
                message_id=message_id,
                conversation_id=conversation_id,
                question=question.message,
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
        return Reply(conversation_id, message_id, result, cited)


def belongs(turns: list[Turn], owner: str) -> bool:
    """The turns are a conversation this server issued to ``owner``."""
    return (
        bool(turns)
        and ISSUED_ID.fullmatch(turns[-1].conversation_id) is not None
        and turns[-1].owner == owner
    )


def new_id() -> str:
    return secrets.token_hex(16)


def _cache_key(question: Question, retriever: Retriever) -> tuple[object, ...]:
    """Same words (spacing aside), language, top_k and topic, against the same index version."""
    words = " ".join(question.message.split())
    return (retriever.version, words, question.language, question.top_k, question.topic)

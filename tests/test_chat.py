"""The conversation use case (service/chat.py) without the web layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cache import LRUCache
from service.chat import PLATFORM, Chat, Question
from service.conversations import SQLiteStore
from service.errors import UnknownConversation
from service.retrieval import Retriever


@pytest.fixture
def chat(tmp_path: Path) -> Chat:
    counts: list[bool] = []
    chat = Chat(SQLiteStore(tmp_path / "db.sqlite3"), LRUCache(16), None, counts.append)
    chat.counts = counts  # type: ignore[attr-defined]
    return chat


def test_a_reply_is_stored_under_its_ids_and_counted(chat: Chat, fake_retriever: Retriever) -> None:
    reply = chat.ask(fake_retriever, Question("docker save vs docker export"), owner="alice")
    [turn] = chat.store.history(reply.conversation_id)
    assert (turn.message_id, turn.owner, turn.answer) == (
        reply.message_id,
        "alice",
        reply.answer.text,
    )
    assert turn.entry_id == reply.citations[0]["id"] and chat.counts == [reply.answer.answered]  # type: ignore[attr-defined]


def test_only_the_owner_continues_and_a_platform_names_its_own(
    chat: Chat, fake_retriever: Retriever
) -> None:
    first = chat.ask(fake_retriever, Question("docker save"), owner="alice")
    follow = Question("and docker load?", conversation_id=first.conversation_id)
    assert chat.ask(fake_retriever, follow, owner="alice").conversation_id == first.conversation_id
    for stranger in ("bob", ""):
        with pytest.raises(UnknownConversation):
            chat.ask(fake_retriever, follow, owner=stranger)
    with pytest.raises(UnknownConversation):  # an id the server never issued
        chat.ask(fake_retriever, Question("x", conversation_id="slack:T:C:1"), owner="alice")
    platform = Question("docker save", conversation_id="slack:T:C:1")
    assert chat.ask(fake_retriever, platform, owner=PLATFORM).conversation_id == "slack:T:C:1"
    assert len(chat.store.history(first.conversation_id)) == 2  # the refused turns wrote nothing


def test_a_repeated_question_comes_from_the_cache_with_new_ids(
    chat: Chat, fake_retriever: Retriever
) -> None:
    question = Question("docker save vs docker export")
    assert chat.cached(fake_retriever, question, "") is None
    first = chat.ask(fake_retriever, question, owner="", looked_up=True)
    again = chat.cached(fake_retriever, question, "")
    assert again is not None and again.answer is first.answer
    assert again.message_id != first.message_id and again.conversation_id != first.conversation_id
    assert chat.store.turn(again.message_id) is not None
    # Earlier turns change the answer's meaning: never from the cache.
    assert chat.cached(fake_retriever, Question(question.message, history=["hi"]), "") is None
    assert chat.cached(fake_retriever, Question(question.message, top_k=5), "") is None

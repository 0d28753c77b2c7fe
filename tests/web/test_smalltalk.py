"""After an answer, "thanks!" gets a short reply with no citation on every surface."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

QUESTION = "docker save vs docker export"


def _answered(client: TestClient) -> str:
    first = client.post("/chat", json={"message": QUESTION}).json()
    assert first["answered"] and first["citations"][0]["id"] == "save-vs-export"
    return str(first["conversation_id"])


@pytest.mark.parametrize(
    ("turn", "language", "words"),
    [
        ("thanks!", "en", "welcome"),
        ("谢谢", "zh", "不客气"),
        ("write me a poem", "en", "Docker"),
        ("that didn't work", "en", "error message"),  # not the same answer again
        ("还是不行", "zh", "报错信息"),
        ("hi there, I have a question", "en", "Hello"),
    ],
)
def test_chat_small_talk_after_an_answer(
    client: TestClient, turn: str, language: str, words: str
) -> None:
    conversation = _answered(client)
    body = client.post("/chat", json={"message": turn, "conversation_id": conversation}).json()
    assert body["answered"] is False and body["language"] == language
    assert body["citations"] == [] and body["alternatives"] == []
    assert words in body["answer"] and "[1]" not in body["answer"]
    assert body["confidence"] == 0.0


def test_stream_small_talk_after_an_answer(client: TestClient) -> None:
    conversation = _answered(client)
    response = client.post(
        "/chat/stream", json={"message": "thanks!", "conversation_id": conversation}
    )
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    meta, done = events[0], events[-1]
    assert meta["citations"] == [] and done["citations"] == [] and not done["answered"]
    assert "welcome" in done["answer"]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_small_talk_after_an_answer(client: TestClient, stream: bool) -> None:
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "`docker save` works on images ... [1]"},
        {"role": "user", "content": "thanks!"},
    ]
    response = client.post("/v1/chat/completions", json={"messages": messages, "stream": stream})
    if stream:
        chunks = [
            json.loads(line[len("data: ") :])
            for line in response.text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"
        ]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        citations = chunks[-1]["citations"]
    else:
        body = response.json()
        text, citations = body["choices"][0]["message"]["content"], body["citations"]
    assert "welcome" in text and "[1]" not in text
    assert citations == []


def test_a_real_follow_up_still_uses_the_conversation(client: TestClient) -> None:
    first = client.post("/chat", json={"message": "How do I save an image to a tar file?"}).json()
    body = client.post(
        "/chat",
        json={"message": "and how do I load it?", "conversation_id": first["conversation_id"]},
    ).json()
    assert body["answered"] and body["citations"][0]["topic"] == "save-load-export-import"


def test_a_follow_up_after_thanks_still_uses_the_question_before(client: TestClient) -> None:
    first = client.post("/chat", json={"message": "How do I save an image to a tar file?"}).json()
    conversation = first["conversation_id"]
    client.post("/chat", json={"message": "thanks!", "conversation_id": conversation})
    body = client.post(
        "/chat", json={"message": "and how do I load it?", "conversation_id": conversation}
    ).json()
    assert body["answered"] and body["citations"][0]["topic"] == "save-load-export-import"

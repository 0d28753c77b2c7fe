from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

CITATION_KEYS = {"n", "id", "title", "topic", "language", "url", "snippet", "score"}


def test_chat_answers_with_citations(client: TestClient) -> None:
    response = client.post("/chat", json={"message": "docker中镜像和容器的区别"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "conversation_id",
        "message_id",
        "answered",
        "answer",
        "language",
        "confidence",
        "citations",
        "alternatives",
        "index_version",
    }
    assert body["answered"] is True and body["language"] == "zh"
    assert body["citations"][0]["id"] == "image-vs-container"
    assert body["citations"][0]["topic"] == "image-vs-container"
    assert set(body["citations"][0]) == CITATION_KEYS
    assert "[1]" in body["answer"] and 0 <= body["confidence"] <= 1
    assert body["alternatives"] == []
    assert body["conversation_id"] and body["message_id"]


def test_chat_keeps_the_conversation_id(client: TestClient) -> None:
    first = client.post("/chat", json={"message": "docker save", "conversation_id": "abc-1"}).json()
    second = client.post("/chat", json={"message": "docker save"}).json()
    assert first["conversation_id"] == "abc-1"
    assert second["conversation_id"] != "abc-1"
    assert first["message_id"] != second["message_id"]


def test_chat_options(client: TestClient) -> None:
    body = client.post(
        "/chat",
        json={
            "message": "docker中镜像和容器的区别",
            "language": "en",
            "top_k": 1,
            "topic": "image-vs-container",
        },
    ).json()
    assert body["language"] == "en" and len(body["citations"]) == 1
    assert body["citations"][0]["language"] == "en"


def test_chat_refuses_off_topic(client: TestClient) -> None:
    body = client.post("/chat", json={"message": "东南亚BCD功率集成电路市场规模"}).json()
    assert body["answered"] is False and body["citations"] == []
    assert body["language"] == "zh" and "抱歉" in body["answer"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"message": "x" * 2001}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   \n\t "}, "message"),
        ({}, "message"),
        ({"message": 42}, "message"),
        ({"message": "docker", "top_k": 0}, "top_k"),
        ({"message": "docker", "top_k": 11}, "top_k"),
        ({"message": "docker", "topic": "kubernetes"}, "topic"),
        ({"message": "docker", "language": "fr"}, "language"),
        ({"message": "docker", "conversation_id": ""}, "conversation_id"),
    ],
)
def test_chat_rejects_bad_input_with_422(client: TestClient, payload: dict, field: str) -> None:
    response = client.post("/chat", json=payload)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(field in error["loc"] for error in detail), detail


def test_chat_accepts_exactly_2000_chars(client: TestClient) -> None:
    assert client.post("/chat", json={"message": "docker " + "a" * 1993}).status_code == 200


def test_chat_rejects_non_json(client: TestClient) -> None:
    response = client.post(
        "/chat", content=b"not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "detail" in response.json()

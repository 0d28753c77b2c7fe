from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from service.conversations import Turn

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
    first = client.post("/chat", json={"message": "docker save"}).json()
    again = {"message": "docker load", "conversation_id": first["conversation_id"]}
    second = client.post("/chat", json=again).json()
    fresh = client.post("/chat", json={"message": "docker save"}).json()
    assert second["conversation_id"] == first["conversation_id"] != fresh["conversation_id"]
    assert len({first["message_id"], second["message_id"], fresh["message_id"]}) == 3


@pytest.mark.parametrize(
    "conversation_id",
    ["does-not-exist", " ", "\x00", "../../etc/passwd", "0" * 32, "mattermost:town:user-1"],
)
def test_only_conversations_the_server_issued_continue(
    client: TestClient, conversation_id: str
) -> None:
    # A platform's conversation exists in the store, but HTTP callers cannot reach it.
    platform = "mattermost:town:user-1"
    store = client.app.state.dockfaq.store  # type: ignore[attr-defined]
    store.add_turn(Turn("m-1", platform, "q", "en", True, 0.9, None, None, 1.0, "platform"))
    unknown = {"detail": "unknown conversation_id: start a new conversation without one"}
    for path in ("/chat", "/chat/stream"):
        ask = {"message": "docker save", "conversation_id": conversation_id}
        reply = client.post(path, json=ask)
        assert reply.status_code == 404 and reply.json() == unknown, reply.text
    path = "/conversations/" + quote(conversation_id, safe="")
    assert client.get(path).status_code == 404
    assert len(store.history(platform)) == 1  # nothing was added to it


def test_a_conversation_can_be_read_back(client: TestClient) -> None:
    first = client.post("/chat", json={"message": "docker save vs docker export"}).json()
    cid = first["conversation_id"]
    client.post("/chat", json={"message": "谢谢", "conversation_id": cid})
    body = client.get(f"/conversations/{cid}").json()
    assert body["conversation_id"] == cid
    one, two = body["turns"]
    assert one["message_id"] == first["message_id"] and one["answer"] == first["answer"]
    assert one["citations"] == first["citations"] and one["answered"] == first["answered"]
    assert two["question"] == "谢谢" and two["citations"] == [] and not two["answered"]
    assert client.get("/conversations/" + "f" * 32).status_code == 404


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

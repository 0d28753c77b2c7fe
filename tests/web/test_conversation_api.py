from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from service.retrieval import Retriever
from service.settings import Settings
from service.web import create_app


def _sse(body: str) -> list[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        events.append((fields.get("event", "message"), fields.get("data", "")))
    return events


def test_conversation_is_remembered_and_survives_restart(
    settings: Settings, fake_retriever: Retriever
) -> None:
    with TestClient(create_app(settings, retriever=fake_retriever)) as client:
        first = client.post("/chat", json={"message": "docker save vs docker export"}).json()
        conversation = first["conversation_id"]
        client.post(
            "/chat", json={"message": "which one keeps history", "conversation_id": conversation}
        )
    with TestClient(create_app(settings, retriever=fake_retriever)) as client:  # a restart
        store = client.app.state.dockfaq.store
        assert [t.question for t in store.history(conversation)] == [
            "docker save vs docker export",
            "which one keeps history",
        ]
        assert store.turn(first["message_id"]).entry_id == first["citations"][0]["id"]
    assert (Path(settings.data_dir) / "dockfaq.sqlite3").is_file()


def test_feedback(client: TestClient) -> None:
    answered = client.post("/chat", json={"message": "docker save vs docker export"}).json()
    response = client.post(
        "/feedback", json={"message_id": answered["message_id"], "rating": "down", "comment": "meh"}
    )
    assert response.status_code == 201 and response.json()["status"] == "recorded"
    stored = client.app.state.dockfaq.store.feedback()[-1]
    assert (stored.message_id, stored.rating, stored.comment) == (
        answered["message_id"],
        "down",
        "meh",
    )
    unknown = client.post("/feedback", json={"message_id": "nope", "rating": "up"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    bad = client.post("/feedback", json={"message_id": answered["message_id"], "rating": "meh"})
    assert bad.status_code == 422


def test_entry_feedback(client: TestClient) -> None:
    reply = client.post("/entries/exit-codes/feedback", json={"rating": "down", "comment": "137?"})
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"status": "recorded", "entry_id": "exit-codes"}
    again = client.post("/entries/exit-codes/feedback", json={"rating": "up"})
    assert again.status_code == 201
    votes = client.app.state.dockfaq.store.entry_votes()
    assert [(v.entry_id, v.rating, v.comment) for v in votes] == [
        ("exit-codes", "down", "137?"),
        ("exit-codes", "up", None),
    ]
    unknown = client.post("/entries/no-such-entry/feedback", json={"rating": "up"})
    assert unknown.status_code == 404 and "no-such-entry" in unknown.json()["detail"]
    for body in ({"rating": "meh"}, {}, {"rating": "up", "comment": "x" * 2001}):
        assert client.post("/entries/exit-codes/feedback", json=body).status_code == 422
    assert len(client.app.state.dockfaq.store.entry_votes()) == 2


def test_stream_sends_meta_deltas_done(client: TestClient) -> None:
    response = client.post("/chat/stream", json={"message": "docker中镜像和容器的区别"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    meta, done = json.loads(events[0][1]), json.loads(events[-1][1])
    deltas = "".join(json.loads(data)["text"] for name, data in events if name == "delta")
    assert deltas == done["answer"] and len(names) > 3
    assert meta["message_id"] == done["message_id"] and meta["citations"] == done["citations"]


def test_stream_validates_like_chat(client: TestClient) -> None:
    assert client.post("/chat/stream", json={"message": ""}).status_code == 422


def test_openai_completion(client: TestClient) -> None:
    body = client.post(
        "/v1/chat/completions",
        json={
            "model": "dockfaq",
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "be nice"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "docker save vs docker export"}],
                },
            ],
        },
    ).json()
    assert body["object"] == "chat.completion" and body["model"] == "dockfaq"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert "[1]" in body["choices"][0]["message"]["content"]
    assert body["citations"][0]["id"] == "save-vs-export"
    assert body["usage"]["total_tokens"] > 0


def test_openai_stream_ends_with_citations(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={
            "stream": True,
            "messages": [{"role": "user", "content": "docker save vs docker export"}],
        },
    )
    events = _sse(response.text)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "[1]" in text and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"][0]["id"] == "save-vs-export"


def test_openai_bad_requests(client: TestClient) -> None:
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 422
    only_system = {"messages": [{"role": "system", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=only_system).status_code == 422
    too_long = {"messages": [{"role": "user", "content": "x" * 2001}]}
    assert client.post("/v1/chat/completions", json=too_long).status_code == 422
    assert client.get("/v1/models").json()["data"][0]["id"] == "dockfaq"


def test_openai_calls_share_the_answer_cache(client: TestClient) -> None:
    def hits() -> float:
        text = client.get("/metrics").text
        line = next(
            (
                row
                for row in text.splitlines()
                if row.startswith("dockfaq_cache_lookups_total")
                and 'cache="answer"' in row
                and 'result="hit"' in row
            ),
            "x 0",
        )
        return float(line.split()[-1])

    ask = {"messages": [{"role": "user", "content": "docker save vs docker export"}]}
    before = hits()
    first = client.post("/v1/chat/completions", json=ask).json()
    second = client.post("/v1/chat/completions", json=ask).json()
    assert hits() == before + 1 and first["id"] != second["id"]
    assert first["choices"][0]["message"] == second["choices"][0]["message"]
    # The completion id is the stored turn's message id: feedback on it works.
    vote = client.post("/feedback", json={"message_id": second["id"], "rating": "up"})
    assert vote.status_code == 201

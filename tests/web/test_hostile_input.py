"""Bodies that Python's json module reads but nothing downstream can encode: NaN, Infinity,
numbers too large for a float, lone UTF-16 surrogates. Each is a 422 that names the problem,
never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

ROUTES = {
    "/chat": '{{"message": {message}, "top_k": {top_k}, "conversation_id": {cid}}}',
    "/chat/stream": '{{"message": {message}, "top_k": {top_k}, "conversation_id": {cid}}}',
    "/v1/chat/completions": '{{"messages": [{{"role": "user", "content": {message}}}], '
    '"temperature": {top_k}, "user": {cid}}}',
}
FINE = {"message": '"what is an image"', "top_k": "3", "cid": "null"}
HOSTILE = [
    ("top_k", "NaN", "NaN is not a JSON number"),
    ("top_k", "Infinity", "Infinity is not a JSON number"),
    ("top_k", "-Infinity", "-Infinity is not a JSON number"),
    ("top_k", "1e400", "1e400 is too large for a number"),
    ("message", '"\\ud800 hello"', "lone UTF-16 surrogate"),
    ("message", '"\\udfff"', "lone UTF-16 surrogate"),
    ("cid", '"\\ud83d"', "lone UTF-16 surrogate"),
]


def _post(client: TestClient, path: str, body: str):  # type: ignore[no-untyped-def]
    return client.post(path, content=body.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("path", list(ROUTES))
@pytest.mark.parametrize(("field", "value", "says"), HOSTILE)
def test_unencodable_json_is_a_422_that_says_why(
    client: TestClient, path: str, field: str, value: str, says: str
) -> None:
    reply = _post(client, path, ROUTES[path].format(**{**FINE, field: value}))
    assert reply.status_code == 422, reply.text
    [error] = reply.json()["detail"]
    assert error["type"] == "json_invalid" and says in error["ctx"]["error"]


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_surrogate_pair_is_a_character_not_an_error(client: TestClient, path: str) -> None:
    reply = _post(
        client, path, ROUTES[path].format(**{**FINE, "message": '"docker \\ud83d\\udc33"'})
    )
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    "body",
    [
        '{"message_id": "m-1", "rating": NaN}',
        '{"message_id": "\\ud800", "rating": "up"}',
        '{"message_id": "m-1", "rating": "up", "comment": "\\udc00"}',
    ],
)
def test_feedback_refuses_unencodable_json(client: TestClient, body: str) -> None:
    reply = _post(client, "/feedback", body)
    assert reply.status_code == 422 and reply.json()["detail"][0]["type"] == "json_invalid"


def test_a_number_of_5000_digits_is_a_clear_client_error(client: TestClient) -> None:
    reply = _post(
        client, "/chat", json.dumps({"message": "hi"})[:-1] + ', "top_k": ' + "9" * 5000 + "}"
    )
    assert 400 <= reply.status_code < 500 and "detail" in reply.json()

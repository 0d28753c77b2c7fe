from __future__ import annotations

from fastapi.testclient import TestClient


def test_search_results(client: TestClient) -> None:
    response = client.get("/search", params={"q": "docker save export", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "docker save export" and body["index_version"]
    assert 1 <= len(body["results"]) <= 3
    for result in body["results"]:
        assert set(result) == {"id", "title", "topic", "language", "snippet", "score", "url"}
        assert result["language"] == "en"
    assert len({r["id"] for r in body["results"]}) == len(body["results"])


def test_search_filters(client: TestClient) -> None:
    body = client.get(
        "/search", params={"q": "用户 权限", "topic": "non-root", "language": "zh"}
    ).json()
    assert body["results"] and all(r["topic"] == "non-root" for r in body["results"])
    assert all(r["language"] == "zh" for r in body["results"])


def test_search_treats_empty_filters_as_absent(client: TestClient) -> None:
    response = client.get("/search?q=docker+save&k=5&topic=&language=")
    assert response.status_code == 200 and response.json()["results"]


def test_search_bad_input(client: TestClient) -> None:
    assert client.get("/search").status_code == 422
    assert client.get("/search", params={"q": ""}).status_code == 422
    assert client.get("/search", params={"q": "x" * 2001}).status_code == 422
    assert client.get("/search", params={"q": "docker", "k": 0}).status_code == 422
    assert client.get("/search", params={"q": "docker", "topic": "nope"}).status_code == 422
    assert client.get("/search", params={"q": "docker", "language": "de"}).status_code == 422

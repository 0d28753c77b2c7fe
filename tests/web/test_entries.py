from __future__ import annotations

from fastapi.testclient import TestClient


def test_entries_list_and_filter(client: TestClient) -> None:
    body = client.get("/entries").json()
    assert len(body["entries"]) >= 100 and body["index_version"]
    first = body["entries"][0]
    assert set(first) == {"id", "topic", "title"} and set(first["title"]) == {"en", "zh"}
    only = client.get("/entries", params={"topic": "non-root"}).json()["entries"]
    assert only and {e["topic"] for e in only} == {"non-root"}
    assert client.get("/entries", params={"topic": "nope"}).status_code == 422


def test_entry_detail(client: TestClient) -> None:
    entry = client.get("/entries/save-vs-export").json()
    assert entry["title"]["zh"] == "docker save 与 docker export 的区别"
    assert entry["answer"]["en"].startswith("`docker save` works on **images**")
    assert entry["url"].startswith("https://docs.docker.com/")
    assert len(entry["questions"]["en"]) >= 3 and len(entry["questions"]["zh"]) >= 3
    missing = client.get("/entries/no-such-entry")
    assert missing.status_code == 404 and "no-such-entry" in missing.json()["detail"]


def test_page_is_served_without_external_resources(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "http" not in page.text.replace("http-equiv", "")
    script = client.get("/static/app.js").text
    assert ".innerHTML" not in script and "insertAdjacentHTML" not in script  # textContent only
    assert client.get("/static/style.css").status_code == 200

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import engine
from service.errors import IndexMismatch
from service.settings import Settings
from service.web import create_app
from tests.conftest import FakeEmbedder


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "index_version": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/chat", "/search", "/healthz", "/readyz"} <= set(paths)


def test_builds_index_on_first_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "embedder", lambda settings: FakeEmbedder())
    settings = Settings(index_dir=tmp_path / "index", embedding_model="fake-hash")
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            response = client.post("/chat", json={"message": "docker save"})
            assert response.status_code in (200, 503)  # it may become ready in between
            if response.status_code == 503:
                assert "loading" in response.json()["detail"]
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        assert client.post("/chat", json={"message": "docker save"}).status_code == 200
    assert (tmp_path / "index" / "manifest.json").is_file()


def test_a_load_that_breaks_is_reported_on_readyz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any failure, not only dockfaq's own errors: /readyz names it instead of "loading"."""

    def broken(settings: Settings, serving: bool = False) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine, "open_retriever", broken)
    with TestClient(create_app(Settings(index_dir=tmp_path / "index"))) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").json()["detail"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"] == "OSError: [Errno 28] No space left on device"
        chat = client.post("/chat", json={"message": "docker save"})
        assert chat.status_code == 503 and "No space left" in chat.json()["detail"]


def test_refuses_index_of_another_model(fake_index_dir: Path) -> None:
    settings = Settings(index_dir=fake_index_dir, embedding_model="some/other-model")
    with pytest.raises(IndexMismatch, match="other-model"), TestClient(create_app(settings)):
        pass


def test_security_headers_everywhere(client: TestClient) -> None:
    for path in ("/", "/static/app.js", "/healthz", "/openapi.json", "/docs"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
    page = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in page and "unsafe" not in page
    docs = client.get("/docs")
    assert "cdn" not in docs.text and "/docs/static/swagger-ui-bundle.js" in docs.text
    assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200

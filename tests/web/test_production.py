from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service import store
from service.retrieval import Retriever
from service.settings import Settings
from service.web import create_app
from tests.conftest import CORPUS, FakeEmbedder


def _client(settings: Settings, retriever: Retriever, **changes: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=changes), retriever=retriever))


def test_api_keys(settings: Settings, fake_retriever: Retriever) -> None:
    with _client(
        settings,
        fake_retriever,
        api_keys="alpha-key-0123456789, beta-key-0123456789",
        admin_key="root-key-0123456789",
    ) as client:
        ask = {"message": "docker save vs docker export"}
        missing = client.post("/chat", json=ask)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "API key" in missing.json()["detail"]
        wrong = client.post(
            "/chat", json=ask, headers={"Authorization": "Bearer gamma-key-0123456789"}
        )
        assert wrong.status_code == 401
        assert (
            client.post(
                "/chat", json=ask, headers={"Authorization": "Bearer beta-key-0123456789"}
            ).status_code
            == 200
        )
        assert client.get("/search", params={"q": "docker"}).status_code == 401
        assert client.get("/v1/models").status_code == 401
        assert (
            client.get(
                "/v1/models", headers={"Authorization": "Bearer alpha-key-0123456789"}
            ).status_code
            == 200
        )
        assert client.get("/healthz").status_code == 200  # probes stay open
        # The admin scope: an API key is not enough.
        forbidden = client.post(
            "/admin/reload", headers={"Authorization": "Bearer alpha-key-0123456789"}
        )
        assert forbidden.status_code == 403
        assert client.post("/admin/reload").status_code == 401


def test_admin_routes_absent_without_admin_key(client: TestClient) -> None:
    assert client.post("/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 404


def test_rate_limit(settings: Settings, fake_retriever: Retriever) -> None:
    with _client(settings, fake_retriever, rate_limit="3/minute") as client:
        codes = [client.get("/search", params={"q": "docker"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/search", params={"q": "docker"})
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60


def test_wrong_keys_count_against_the_senders_limit(
    settings: Settings, fake_retriever: Retriever
) -> None:
    key = "alpha-key-0123456789"
    with _client(settings, fake_retriever, api_keys=key, rate_limit="5/minute") as client:
        guesses = [
            client.get("/search", params={"q": "d"}, headers={"Authorization": f"Bearer k{i}"})
            for i in range(8)
        ]
        assert [r.status_code for r in guesses] == [401] * 5 + [429] * 3
        # A valid key has its own budget, and the limiter never stores the key itself.
        ok = client.get("/search", params={"q": "d"}, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        strategy = client.app.state.dockfaq.limiter.strategy  # type: ignore[attr-defined]
        stored = " ".join(map(str, strategy.storage.events))
        assert "key:" in stored and key not in stored


def test_redis_limiter_keys_hold_a_hash_not_the_key(
    settings: Settings, fake_retriever: Retriever, redis_url: str
) -> None:
    import redis

    key = "redis-limit-key-0123456789"
    with _client(
        settings, fake_retriever, api_keys=key, rate_limit="5/minute", redis_url=redis_url
    ) as client:
        as_key = {"Authorization": f"Bearer {key}"}
        assert client.get("/search", params={"q": "d"}, headers=as_key).status_code == 200
    names = " ".join(redis.Redis.from_url(redis_url, decode_responses=True).keys("*"))
    assert "key:" in names and key not in names, names


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("api_keys", "k1", "at least 16"),
        ("api_keys", "a-long-enough-key-1, short", "at least 16"),
        ("admin_key", "root", "at least 16"),
        ("api_keys", "   ", "only whitespace"),
        ("slack_signing_secret", " ", "only whitespace"),
        ("dingtalk_app_secret", "\t\n", "only whitespace"),
        ("feishu_encrypt_key", "key-from-a-file\n", "whitespace around it"),
    ],
)
def test_weak_or_blank_secrets_are_refused_at_start(setting: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings(**{setting: value})  # type: ignore[arg-type]


def test_bad_rate_limit_setting() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(rate_limit="lots")


def test_body_limit(client: TestClient) -> None:
    huge = json.dumps({"message": "x" * (10 * 1024 * 1024)})
    response = client.post("/chat", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "65536" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no content-length: the limit counts streamed bytes
        yield b'{"message": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    streamed = client.post("/chat", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/chat", json={"message": "docker save"}).status_code == 200


def test_cors_is_closed_by_default_and_follows_the_allow_list(
    settings: Settings, fake_retriever: Retriever, client: TestClient
) -> None:
    origin = {"Origin": "https://chat.example.com"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    with _client(settings, fake_retriever, cors_origins="https://chat.example.com") as allowed:
        response = allowed.get("/healthz", headers=origin)
        assert response.headers["access-control-allow-origin"] == "https://chat.example.com"
        other = allowed.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_request_id_and_metrics(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id\n"})
    assert made.headers["x-request-id"] != "bad id\n" and len(made.headers["x-request-id"]) == 32
    client.post("/chat", json={"message": "docker save vs docker export"})
    client.post("/chat", json={"message": "东南亚BCD功率集成电路市场规模"})
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["dockfaq_http_requests"].samples
    assert any(s.labels == {"route": "/chat", "method": "POST", "status": "200"} for s in requests)
    outcomes = {
        s.labels["outcome"]: s.value
        for s in families["dockfaq_answers"].samples
        if s.name.endswith("_total")
    }
    assert outcomes["answered"] >= 1 and outcomes["refused"] >= 1
    assert families["dockfaq_index_entries"].samples[0].value >= 100
    assert "dockfaq_http_request_seconds" in families


def _reloadable(tmp_path: Path, fake_index_dir: Path) -> tuple[Path, Retriever, Settings]:
    """A copy of the corpus and index that a reload may rewrite, served with an admin key."""
    corpus_dir, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(CORPUS, corpus_dir)
    shutil.copytree(fake_index_dir, index_dir)
    embedder = FakeEmbedder()
    retriever = Retriever(store.load(index_dir, embedder), embedder)
    settings = Settings(
        corpus_dir=corpus_dir,
        index_dir=index_dir,
        data_dir=tmp_path / "data",
        embedding_model="fake-hash",
        admin_key="root-key-0123456789",
    )
    return corpus_dir, retriever, settings


def test_reload_swaps_the_index_and_refuses_a_broken_corpus(
    tmp_path: Path, fake_index_dir: Path
) -> None:
    corpus_dir, retriever, settings = _reloadable(tmp_path, fake_index_dir)
    admin = {"Authorization": "Bearer root-key-0123456789"}
    with TestClient(create_app(settings, retriever=retriever)) as client:
        before = client.get("/readyz").json()["index_version"]
        entry = corpus_dir / "non-root" / "user-flag.md"
        entry.write_text(entry.read_text().replace("## en\n", "## en\nReloaded.\n", 1))
        reloaded = client.post("/admin/reload", headers=admin)
        assert reloaded.status_code == 200, reloaded.text
        after = reloaded.json()["index_version"]
        assert after != before and reloaded.json()["previous"] == before
        assert client.get("/readyz").json()["index_version"] == after
        assert client.get("/entries/user-flag").json()["answer"]["en"].startswith("Reloaded.")
        entry.write_text("---\nid: [broken\n---\n")
        refused = client.post("/admin/reload", headers=admin)
        assert refused.status_code == 422 and "user-flag.md" in refused.json()["detail"]
        assert client.get("/readyz").json()["index_version"] == after  # the old one still serves
        assert client.post("/chat", json={"message": "docker save"}).status_code == 200


def test_a_reload_in_one_app_does_not_block_another(tmp_path: Path, fake_index_dir: Path) -> None:
    admin = {"Authorization": "Bearer root-key-0123456789"}
    _, retriever, settings = _reloadable(tmp_path / "one", fake_index_dir)
    _, other_retriever, other_settings = _reloadable(tmp_path / "two", fake_index_dir)
    one, two = (
        create_app(settings, retriever=retriever),
        create_app(other_settings, retriever=other_retriever),
    )
    with TestClient(one) as first, TestClient(two) as second:
        assert one.state.dockfaq.reloading.acquire(blocking=False)  # a reload of `one` runs
        try:
            assert first.post("/admin/reload", headers=admin).status_code == 409
            assert second.post("/admin/reload", headers=admin).status_code == 200
        finally:
            one.state.dockfaq.reloading.release()
        assert first.post("/admin/reload", headers=admin).status_code == 200


def test_access_log_is_json_without_secrets(
    settings: Settings, fake_retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from service.logs import JsonFormatter

    caplog.set_level(logging.INFO, logger="dockfaq.access")
    with _client(settings, fake_retriever, api_keys="s3cret-key-0123456789") as client:
        client.post(
            "/chat",
            json={"message": "my private question"},
            headers={"Authorization": "Bearer s3cret-key-0123456789", "X-Request-ID": "req-1"},
        )
    [record] = [r for r in caplog.records if r.name == "dockfaq.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-1" and line["route"] == "/chat" and line["status"] == 200
    assert "s3cret-key-0123456789" not in caplog.text and "my private question" not in caplog.text


def test_reload_under_load_fails_no_request(tmp_path: Path, fake_index_dir: Path) -> None:
    import threading

    corpus_dir, retriever, settings = _reloadable(tmp_path, fake_index_dir)
    codes: list[int] = []
    stop = threading.Event()
    with TestClient(create_app(settings, retriever=retriever)) as client:

        def load() -> None:
            while not stop.is_set() and len(codes) < 5000:  # bounded
                codes.append(
                    client.post("/chat", json={"message": "docker save vs export"}).status_code
                )

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        entry = corpus_dir / "base-image" / "dockerignore.md"
        entry.write_text(entry.read_text().replace("## en\n", "## en\nChanged.\n", 1))
        reloaded = client.post(
            "/admin/reload", headers={"Authorization": "Bearer root-key-0123456789"}
        )
        stop.set()
        for worker in workers:
            worker.join()
    assert reloaded.status_code == 200 and reloaded.json()["index_version"] != retriever.version
    assert codes and set(codes) == {200}, f"{len(codes)} requests, codes {set(codes)}"


def _ask_from(client: TestClient, forwarded_for: str) -> int:
    reply = client.get("/search", params={"q": "d"}, headers={"X-Forwarded-For": forwarded_for})
    return reply.status_code


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    settings: Settings, fake_retriever: Retriever
) -> None:
    app = create_app(settings.model_copy(update={"rate_limit": "3/minute"}), fake_retriever)
    # A client on the same host sends a different X-Forwarded-For each time: still one bucket.
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        codes = [_ask_from(client, f"203.0.113.{i}") for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_a_trusted_proxy_passes_the_client_address(
    settings: Settings, fake_retriever: Retriever
) -> None:
    changes = {"rate_limit": "3/minute", "trusted_proxies": "127.0.0.1, 10.0.0.0/8"}
    app = create_app(settings.model_copy(update=changes), fake_retriever)
    with TestClient(app, client=("10.1.2.3", 40000)) as proxy:
        assert [_ask_from(proxy, "198.51.100.7") for _ in range(4)] == [200, 200, 200, 429]
        assert _ask_from(proxy, "198.51.100.8") == 200  # another client: its own bucket
    with TestClient(app, client=("192.0.2.50", 40000)) as stranger:  # not a trusted proxy
        assert [_ask_from(stranger, f"198.51.100.{i}") for i in range(20, 24)] == [200] * 3 + [429]


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(trusted_proxies="127.0.0.1, nginx")


def test_a_conversation_belongs_to_the_key_that_started_it(
    settings: Settings, fake_retriever: Retriever
) -> None:
    alice, bob = "alice-key-0123456789", "bob-key-0123456789ab"
    as_alice = {"Authorization": f"Bearer {alice}"}
    as_bob = {"Authorization": f"Bearer {bob}"}
    with _client(settings, fake_retriever, api_keys=f"{alice},{bob}") as client:
        first = client.post("/chat", json={"message": "docker save"}, headers=as_alice).json()
        cid, mid = first["conversation_id"], first["message_id"]
        follow = {"message": "and docker load?", "conversation_id": cid}
        assert client.post("/chat", json=follow, headers=as_alice).status_code == 200
        # Bob holding Alice's ids learns nothing: 404, not 403, and nothing is written.
        assert client.post("/chat", json=follow, headers=as_bob).status_code == 404
        assert client.post("/chat/stream", json=follow, headers=as_bob).status_code == 404
        assert client.get(f"/conversations/{cid}", headers=as_bob).status_code == 404
        vote = {"message_id": mid, "rating": "down"}
        assert client.post("/feedback", json=vote, headers=as_bob).status_code == 404
        assert client.post("/feedback", json=vote).status_code == 401  # no key at all
        up = {"rating": "up"}
        assert client.post("/entries/exit-codes/feedback", json=up).status_code == 401
        assert client.get("/entries/exit-codes").status_code == 200  # reading stays open
        turns = client.get(f"/conversations/{cid}", headers=as_alice).json()["turns"]
        assert [t["question"] for t in turns] == ["docker save", "and docker load?"]
        # Alice votes twice: the second vote replaces the first.
        assert client.post("/feedback", json=vote, headers=as_alice).status_code == 201
        vote["rating"] = "up"
        assert client.post("/feedback", json=vote, headers=as_alice).status_code == 201
        store = client.app.state.dockfaq.store  # type: ignore[attr-defined]
        assert [(f.message_id, f.rating) for f in store.feedback()] == [(mid, "up")]


def test_feedback_is_rate_limited_like_chat(settings: Settings, fake_retriever: Retriever) -> None:
    with _client(settings, fake_retriever, rate_limit="3/minute") as client:
        mid = client.post("/chat", json={"message": "docker save"}).json()["message_id"]
        votes = [
            client.post("/feedback", json={"message_id": mid, "rating": "up"}).status_code
            for _ in range(3)
        ]
        assert votes == [201, 201, 429]  # the /chat call counted too

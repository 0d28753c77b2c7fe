"""With API keys on and DOCKFAQ_PAGE_PUBLIC=true, the page works from a signed session cookie
that only the page's routes accept, from the page's own origin, under their own limit."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from service.retrieval import Retriever
from service.settings import Settings
from service.web import create_app
from service.web.session import COOKIE, REFRESH_AFTER, PageSessions

KEY = "alpha-key-0123456789"
AS_KEY = {"Authorization": f"Bearer {KEY}"}
ASK = {"message": "docker save vs docker export"}


def _client(settings: Settings, retriever: Retriever, **changes: object) -> TestClient:
    changes = {"api_keys": KEY, "page_public": True, **changes}
    return TestClient(create_app(settings.model_copy(update=changes), retriever=retriever))


def _ask(client: TestClient, **body: object) -> dict[str, str]:
    """A question through /chat/stream, the page's route; its `done` event."""
    response = client.post("/chat/stream", json={**ASK, **body})
    assert response.status_code == 200, response.text
    done = response.text.split("event: done")[1].split("data: ", 1)[1].split("\r\n")[0]
    return json.loads(done)  # type: ignore[no-any-return]


def _signer(settings: Settings) -> PageSessions:
    """Signs as the app does (API keys plus the admin key, here empty)."""
    return PageSessions([KEY, ""], settings.conversation_ttl)


def _use(client: TestClient, value: str) -> None:
    """Send this cookie value from now on (only it: the jar may hold one from a response)."""
    client.cookies.clear()
    client.cookies.set(COOKIE, value)


def test_the_page_gets_a_session_only_when_public_and_keys_are_on(
    settings: Settings, fake_retriever: Retriever
) -> None:
    with _client(settings, fake_retriever) as client:
        cookie = client.get("/").headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert f"max-age={settings.conversation_ttl}" in attributes
        assert "secure" not in attributes  # plain HTTP here: a Secure cookie would never return
        # A page load with a fresh cookie keeps it.
        assert "set-cookie" not in client.get("/").headers
    changes = {"api_keys": KEY, "page_public": True}
    with TestClient(
        create_app(settings.model_copy(update=changes), retriever=fake_retriever),
        base_url="https://testserver",
    ) as secure:
        assert "secure" in secure.get("/").headers["set-cookie"].lower()
    for changes in ({"page_public": False}, {"api_keys": ""}):
        with _client(settings, fake_retriever, **changes) as client:
            assert "set-cookie" not in client.get("/").headers


def test_a_session_is_accepted_by_the_page_routes_only(
    settings: Settings, fake_retriever: Retriever
) -> None:
    with _client(settings, fake_retriever, admin_key="root-key-0123456789") as client:
        assert client.post("/chat/stream", json=ASK).status_code == 401  # no cookie yet
        client.get("/")
        done = _ask(client)
        follow = _ask(client, message="and docker load?", conversation_id=done["conversation_id"])
        assert follow["conversation_id"] == done["conversation_id"]
        assert client.get("/search", params={"q": "docker save"}).status_code == 200
        vote = {"message_id": done["message_id"], "rating": "up"}
        assert client.post("/feedback", json=vote).status_code == 201
        entry_vote = client.post("/entries/exit-codes/feedback", json={"rating": "up"})
        assert entry_vote.status_code == 201
        turns = client.get(f"/conversations/{done['conversation_id']}").json()["turns"]
        assert [t["question"] for t in turns] == [ASK["message"], "and docker load?"]
        # Everything else still needs a key.
        assert client.post("/chat", json=ASK).status_code == 401
        assert client.get("/v1/models").status_code == 401
        openai = {"model": "dockfaq", "messages": [{"role": "user", "content": "docker save"}]}
        assert client.post("/v1/chat/completions", json=openai).status_code == 401
        assert client.post("/admin/reload").status_code == 401
        # A key still works next to the cookie, and a wrong key is not rescued by it.
        assert client.post("/chat", json=ASK, headers=AS_KEY).status_code == 200
        wrong = {"Authorization": "Bearer wrong-key-0123456789"}
        assert client.post("/chat/stream", json=ASK, headers=wrong).status_code == 401


def test_forged_expired_foreign_or_cross_site_sessions_are_refused(
    settings: Settings, fake_retriever: Retriever
) -> None:
    with _client(settings, fake_retriever) as client:
        sessions = _signer(settings)
        good = sessions.issue()
        session, issued, mac = good.split(".")
        forged = [
            f"{session}.{issued}.{'0' * len(mac)}",  # wrong signature
            f"{'a' * 32}.{issued}.{mac}",  # another session's id under this signature
            f"{session}.{int(issued) + 1}.{mac}",  # a later date under this signature
            sessions.issue(at=time.time() - settings.conversation_ttl - 5),  # expired
            PageSessions(["other-key-0123456789", ""], 3600).issue(),  # another deployment's
            "",
            "x" * 4000,
            f"{session}.{'9' * 40}.{mac}",
        ]
        for value in forged:
            _use(client, value)
            assert client.post("/chat/stream", json=ASK).status_code == 401, value
        _use(client, good)
        assert client.post("/chat/stream", json=ASK).status_code == 200
        for site in ("cross-site", "same-site"):  # another site's page calling with our cookie
            response = client.post("/chat/stream", json=ASK, headers={"Sec-Fetch-Site": site})
            assert response.status_code == 401, site
        same = client.post("/chat/stream", json=ASK, headers={"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 200


def test_a_session_owns_its_conversations(settings: Settings, fake_retriever: Retriever) -> None:
    with _client(settings, fake_retriever) as client:
        alice = client.get("/").cookies[COOKIE]
        client.cookies.clear()
        bob = client.get("/").cookies[COOKIE]
        assert alice != bob
        _use(client, alice)
        done = _ask(client)
        cid, mid = done["conversation_id"], done["message_id"]
        follow = {"message": "and docker load?", "conversation_id": cid}
        _use(client, bob)  # another browser
        assert client.post("/chat/stream", json=follow).status_code == 404
        assert client.get(f"/conversations/{cid}").status_code == 404
        vote = {"message_id": mid, "rating": "down"}
        assert client.post("/feedback", json=vote).status_code == 404
        # An API key holder is another owner too, and a session cannot reach a key's chats.
        assert client.get(f"/conversations/{cid}", headers=AS_KEY).status_code == 404
        keyed = client.post("/chat", json=ASK, headers=AS_KEY).json()["conversation_id"]
        _use(client, alice)
        assert client.get(f"/conversations/{keyed}").status_code == 404
        assert client.get(f"/conversations/{cid}").status_code == 200
        assert client.post("/feedback", json=vote).status_code == 201


def test_sessions_have_their_own_limit_per_address(
    settings: Settings, fake_retriever: Retriever
) -> None:
    with _client(
        settings, fake_retriever, page_rate_limit="3/minute", rate_limit="100/minute"
    ) as client:
        client.get("/")
        statuses = [client.post("/chat/stream", json=ASK).status_code for _ in range(3)]
        refused = client.post("/chat/stream", json=ASK)
        assert statuses == [200, 200, 200] and refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # A new session from the same address shares the limit; a key has its own.
        client.cookies.clear()
        client.get("/")
        assert client.get("/search", params={"q": "docker"}).status_code == 429
        assert client.post("/chat", json=ASK, headers=AS_KEY).status_code == 200


def test_an_old_cookie_is_re_signed_for_the_same_session(
    settings: Settings, fake_retriever: Retriever
) -> None:
    with _client(settings, fake_retriever) as client:
        sessions = _signer(settings)
        old = sessions.issue(at=time.time() - REFRESH_AFTER - 60)
        _use(client, old)
        done = _ask(client)
        renewed = client.get("/").headers["set-cookie"].split(";")[0].split("=", 1)[1]
        assert renewed != old and renewed.split(".")[0] == old.split(".")[0]
        _use(client, renewed)
        assert client.get(f"/conversations/{done['conversation_id']}").status_code == 200

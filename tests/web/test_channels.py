"""The chat platforms, in process: signatures, payloads, replies and outages, against a fake
platform server that speaks the documented APIs (tests/fake_platform.py)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from service.conversations import SQLiteStore
from service.retrieval import Retriever
from service.settings import Settings
from service.web import create_app
from service.web.channels import rendering, slack
from service.web.schemas import ChatResponse
from tests import fake_platform
from tests.fake_platform import FakePlatform

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
MATTERMOST_TOKENS = ("hook-token-1", "command-token-2")
FEISHU_TOKEN = "feishu-verification-token"
FEISHU_KEY = "feishu-encrypt-key"
DINGTALK_SECRET = "SEC-dingtalk-secret"
QUESTION_EN = "What is the difference between a Docker image and a container?"
QUESTION_ZH = "docker 镜像和容器有什么区别"


@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatform]:
    fake = fake_platform.start()
    yield fake
    fake.close()


def _settings(tmp_path: Path, index: Path, platform: FakePlatform, **extra: str) -> Settings:
    values: dict[str, object] = {
        "index_dir": index,
        "data_dir": tmp_path / "data",
        "embedding_model": "fake-hash",
        "confidence_threshold": 0.3,
        "public_url": "https://faq.example.com",
        "slack_signing_secret": SLACK_SECRET,
        "slack_bot_token": fake_platform.SLACK_BOT_TOKEN,
        "slack_api_url": f"{platform.url}/api",
        "mattermost_token": ",".join(MATTERMOST_TOKENS),
        "feishu_app_id": fake_platform.FEISHU_APP_ID,
        "feishu_app_secret": fake_platform.FEISHU_APP_SECRET,
        "feishu_verification_token": FEISHU_TOKEN,
        "feishu_encrypt_key": FEISHU_KEY,
        "feishu_api_url": platform.url,
        "dingtalk_app_secret": DINGTALK_SECRET,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def client(
    tmp_path: Path, fake_index_dir: Path, fake_retriever: Retriever, platform: FakePlatform
) -> Iterator[TestClient]:
    platform.reset()
    app = create_app(_settings(tmp_path, fake_index_dir, platform), retriever=fake_retriever)
    with TestClient(app) as client:
        yield client


def _slack_post(client: TestClient, path: str, body: bytes, **headers: str):  # type: ignore[no-untyped-def]
    signed = fake_platform.slack_headers(body, SLACK_SECRET)
    return client.post(f"/integrations/slack/{path}", content=body, headers={**signed, **headers})


# --- Slack ---------------------------------------------------------------------------------


def test_slack_url_verification(client: TestClient) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595"})
    reply = _slack_post(client, "events", body.encode())
    assert reply.status_code == 200 and reply.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595"}


def test_slack_mention_gets_a_cited_answer_in_the_thread(
    client: TestClient, platform: FakePlatform, tmp_path: Path
) -> None:
    event = fake_platform.slack_mention(QUESTION_ZH, event_id=uuid.uuid4().hex)
    reply = _slack_post(client, "events", json.dumps(event).encode())
    assert reply.status_code == 200
    [call] = platform.wait_for("/api/chat.postMessage")
    assert call.authorized and call.headers["authorization"] == "Bearer xoxb-test-token"
    assert call.body["channel"] == "C0LAN2Q65"
    assert call.body["thread_ts"] == event["event"]["ts"]
    section, context, actions = call.body["blocks"]
    assert section["type"] == "section" and "[1]" in section["text"]["text"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in section["text"]["text"])  # answered in zh
    assert "<https://docs.docker.com/" in context["elements"][0]["text"]
    up, down = actions["elements"]
    assert (up["action_id"], down["action_id"]) == ("feedback_up", "feedback_down")
    assert up["value"] == down["value"]

    # 👍 is recorded as feedback on that answer, and the buttons are replaced by a thank-you.
    click = {
        "type": "block_actions",
        "user": {"id": "U061F7AUR"},
        "container": {"type": "message", "message_ts": "1700000001.000200", "channel_id": "C0"},
        "message": {"ts": "1700000001.000200", "text": "x", "blocks": call.body["blocks"]},
        "actions": [{"action_id": "feedback_up", "value": up["value"], "type": "button"}],
    }
    form = urlencode({"payload": json.dumps(click)}).encode()
    assert _slack_post(client, "interactions", form).status_code == 200
    [update] = platform.wait_for("/api/chat.update")
    assert update.body["ts"] == "1700000001.000200"
    assert [b["type"] for b in update.body["blocks"]] == ["section", "context", "context"]
    store = SQLiteStore(tmp_path / "data" / "dockfaq.sqlite3")
    assert [(f.message_id, f.rating) for f in store.feedback()] == [(up["value"], "up")]
    store.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Signature": "v0=" + "0" * 64},  # wrong signature
        fake_platform.slack_headers(b"{}", "another-secret"),  # signed with another secret
        {"X-Slack-Request-Timestamp": ""},  # missing timestamp
    ],
)
def test_slack_rejects_unsigned_requests(
    client: TestClient, platform: FakePlatform, headers: dict[str, str]
) -> None:
    body = json.dumps(fake_platform.slack_mention(QUESTION_EN, uuid.uuid4().hex)).encode()
    signed = {**fake_platform.slack_headers(body, SLACK_SECRET), **headers}
    reply = client.post("/integrations/slack/events", content=body, headers=signed)
    assert reply.status_code == 401 and "slack" in reply.json()["detail"]
    time.sleep(0.2)
    assert platform.received("/api/") == []


def test_slack_rejects_a_replayed_old_request(client: TestClient, platform: FakePlatform) -> None:
    body = json.dumps(fake_platform.slack_mention(QUESTION_EN, uuid.uuid4().hex)).encode()
    stale = fake_platform.slack_headers(body, SLACK_SECRET, int(time.time()) - 6 * 60)
    reply = client.post("/integrations/slack/events", content=body, headers=stale)
    assert reply.status_code == 401
    assert platform.received("/api/") == []


def test_slack_retry_is_not_answered_twice(client: TestClient, platform: FakePlatform) -> None:
    body = json.dumps(fake_platform.slack_mention(QUESTION_EN, "Ev0RETRY" + uuid.uuid4().hex))
    assert _slack_post(client, "events", body.encode()).status_code == 200
    for n in (1, 2):
        retry = _slack_post(
            client,
            "events",
            body.encode(),
            **{"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"},
        )
        assert retry.status_code == 200
    time.sleep(0.3)
    assert len(platform.wait_for("/api/chat.postMessage")) == 1


def test_slack_ignores_bot_messages_and_edits(client: TestClient, platform: FakePlatform) -> None:
    own = fake_platform.slack_mention(QUESTION_EN, uuid.uuid4().hex)
    own["event"]["bot_id"] = "B0LAN0Z89"
    edit = fake_platform.slack_mention(QUESTION_EN, uuid.uuid4().hex)
    edit["event"] = {**edit["event"], "type": "message", "subtype": "message_changed"}
    for event in (own, edit):
        assert _slack_post(client, "events", json.dumps(event).encode()).status_code == 200
    time.sleep(0.3)
    assert platform.received("/api/") == []


def test_slack_direct_message_is_answered(client: TestClient, platform: FakePlatform) -> None:
    event = fake_platform.slack_mention(QUESTION_EN, uuid.uuid4().hex)
    event["event"] = {**event["event"], "type": "message", "channel_type": "im", "text": "hi"}
    event["event"]["text"] = QUESTION_EN
    assert _slack_post(client, "events", json.dumps(event).encode()).status_code == 200
    [call] = platform.wait_for("/api/chat.postMessage")
    assert "[1]" in call.body["blocks"][0]["text"]["text"]


def test_slack_slash_command_answers_in_the_response(client: TestClient) -> None:
    form = {
        "token": "deprecated",
        "team_id": "T0001",
        "channel_id": "C2147483705",
        "user_id": "U2147483697",
        "command": "/dockfaq",
        "text": QUESTION_EN,
        "response_url": "https://hooks.slack.com/commands/1234/5678",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
    reply = _slack_post(client, "commands", urlencode(form).encode())
    assert reply.status_code == 200
    body = reply.json()
    assert body["response_type"] == "in_channel"
    assert "[1]" in body["blocks"][0]["text"]["text"]
    empty = _slack_post(client, "commands", urlencode({**form, "text": " "}).encode())
    assert "Docker question" in empty.json()["text"]


def test_slack_api_down_is_logged_and_the_server_carries_on(
    client: TestClient, platform: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    platform.fail_with = 500
    event = fake_platform.slack_mention(QUESTION_EN, uuid.uuid4().hex)
    with caplog.at_level(logging.ERROR, logger="service.web.channels"):
        assert _slack_post(client, "events", json.dumps(event).encode()).status_code == 200
        platform.wait_for("/api/chat.postMessage")
    assert any("slack API call" in r.message and "HTTP 500" in r.message for r in caplog.records)
    assert client.post("/chat", json={"message": QUESTION_EN}).status_code == 200
    metrics = client.get("/metrics").text
    assert 'dockfaq_channel_posts_total{outcome="failed",platform="slack"} 1.0' in metrics


def test_unconfigured_platforms_answer_404(
    tmp_path: Path, fake_index_dir: Path, fake_retriever: Retriever
) -> None:
    settings = Settings(index_dir=fake_index_dir, data_dir=tmp_path, embedding_model="fake-hash")
    with TestClient(create_app(settings, retriever=fake_retriever)) as client:
        for path in (
            "slack/events",
            "slack/commands",
            "slack/interactions",
            "mattermost",
            "feishu/events",
            "dingtalk",
        ):
            reply = client.post(f"/integrations/{path}", content=b"{}")
            assert reply.status_code == 404, path
            assert "not configured" in reply.json()["detail"]


# --- Mattermost ----------------------------------------------------------------------------


def _mattermost_webhook(text: str, token: str) -> dict[str, str]:
    return {
        "channel_id": "hawos4dqtby53pd64o4a4cmeoo",
        "channel_name": "town-square",
        "team_domain": "someteam",
        "team_id": "kwoknj9nwpypzgzy78wkw516qe",
        "post_id": "axdygg1957njfe5pu38saikdho",
        "text": f"#dockfaq {text}",
        "timestamp": "1445532266",
        "token": token,
        "trigger_word": "#dockfaq",
        "user_id": "rnina9994bde8mua79zqcg5hmo",
        "user_name": "somename",
    }


def test_mattermost_webhook_form_and_json(client: TestClient) -> None:
    payload = _mattermost_webhook(QUESTION_EN, MATTERMOST_TOKENS[0])
    form = client.post("/integrations/mattermost", data=payload)
    as_json = client.post("/integrations/mattermost", json=payload)
    for reply in (form, as_json):
        assert reply.status_code == 200
        body = reply.json()
        assert body["response_type"] == "comment"  # in the thread of the triggering post
        assert "[1]" in body["text"] and "](https://docs.docker.com/" in body["text"]


def test_mattermost_slash_command(client: TestClient) -> None:
    form = {
        "channel_id": "fukxanjgjbnp7ng383at53k1sy",
        "command": "/dockfaq",
        "response_url": "https://mattermost.example.com/hooks/commands/x",
        "team_id": "jsa9ff3sejd4tdy1t9rsdmgcwc",
        "text": QUESTION_ZH,
        "token": MATTERMOST_TOKENS[1],
        "user_id": "c3a4cqe3dfy6dgopqt8ai3hydh",
    }
    reply = client.post("/integrations/mattermost", data=form)
    body = reply.json()
    assert body["response_type"] == "in_channel"
    assert "**来源:**" in body["text"]


@pytest.mark.parametrize("token", ["", "hook-token", "wrong"])
def test_mattermost_rejects_a_wrong_token(client: TestClient, token: str) -> None:
    reply = client.post("/integrations/mattermost", data=_mattermost_webhook(QUESTION_EN, token))
    assert reply.status_code == 401 and "token" in reply.json()["detail"]


# --- DingTalk ------------------------------------------------------------------------------


def test_dingtalk_signed_message_gets_markdown(client: TestClient) -> None:
    message = fake_platform.dingtalk_message(QUESTION_ZH, uuid.uuid4().hex)
    reply = client.post(
        "/integrations/dingtalk",
        json=message,
        headers=fake_platform.dingtalk_headers(DINGTALK_SECRET),
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["msgtype"] == "markdown" and body["markdown"]["title"]
    assert "[1]" in body["markdown"]["text"] and "来源" in body["markdown"]["text"]


@pytest.mark.parametrize(
    "headers",
    [
        fake_platform.dingtalk_headers("SEC-another-secret"),
        fake_platform.dingtalk_headers(DINGTALK_SECRET, int(time.time() * 1000) - 3700 * 1000),
        {"timestamp": "soon", "sign": "x"},
        {},
    ],
)
def test_dingtalk_rejects_bad_or_stale_signatures(
    client: TestClient, headers: dict[str, str]
) -> None:
    message = fake_platform.dingtalk_message(QUESTION_EN, uuid.uuid4().hex)
    reply = client.post("/integrations/dingtalk", json=message, headers=headers)
    assert reply.status_code == 401


# --- Feishu --------------------------------------------------------------------------------


def _feishu_post(client: TestClient, event: dict[str, object], **overrides: str):  # type: ignore[no-untyped-def]
    body = fake_platform.feishu_encrypt(event, FEISHU_KEY)
    headers = {**fake_platform.feishu_headers(body, FEISHU_KEY), **overrides}
    return client.post("/integrations/feishu/events", content=body, headers=headers)


def test_feishu_encrypted_url_verification(client: TestClient) -> None:
    check = {"challenge": "ajls384kdjx98XX", "token": FEISHU_TOKEN, "type": "url_verification"}
    body = fake_platform.feishu_encrypt(check, FEISHU_KEY)  # Feishu does not sign this one
    reply = client.post("/integrations/feishu/events", content=body)
    assert reply.status_code == 200 and reply.json() == {"challenge": "ajls384kdjx98XX"}
    wrong = fake_platform.feishu_encrypt({**check, "token": "nope"}, FEISHU_KEY)
    assert client.post("/integrations/feishu/events", content=wrong).status_code == 401


def test_feishu_message_is_answered_with_a_cached_tenant_token(
    client: TestClient, platform: FakePlatform
) -> None:
    first = fake_platform.feishu_message(QUESTION_ZH, uuid.uuid4().hex, FEISHU_TOKEN)
    second = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN)
    for event in (first, second):
        assert _feishu_post(client, event).status_code == 200
    replies = platform.wait_for("/open-apis/im/v1/messages/", 2)
    assert len(platform.received("tenant_access_token")) == 1  # fetched once, then cached
    zh, en = replies
    assert zh.path == f"/open-apis/im/v1/messages/{first['event']['message']['message_id']}/reply"  # type: ignore[index]
    assert zh.authorized and zh.headers["authorization"] == "Bearer t-test-tenant-token"
    assert zh.body["msg_type"] == "post"
    content = json.loads(zh.body["content"])
    [[paragraph]] = content["zh_cn"]["content"]
    assert paragraph["tag"] == "md" and "[1]" in paragraph["text"]
    assert "](https://docs.docker.com/" in paragraph["text"]
    assert "en_us" in json.loads(en.body["content"])


@pytest.mark.parametrize(
    "change",
    [
        {"X-Lark-Signature": "0" * 64},
        {"X-Lark-Request-Timestamp": str(int(time.time()) - 2 * 3600)},
    ],
)
def test_feishu_rejects_bad_signatures_and_stale_timestamps(
    client: TestClient, platform: FakePlatform, change: dict[str, str]
) -> None:
    event = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN)
    assert _feishu_post(client, event, **change).status_code == 401
    time.sleep(0.2)
    assert platform.received("/open-apis/") == []


def test_feishu_rejects_plain_events_when_encryption_is_on(client: TestClient) -> None:
    event = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN)
    body = json.dumps(event).encode()
    reply = client.post(
        "/integrations/feishu/events",
        content=body,
        headers=fake_platform.feishu_headers(body, FEISHU_KEY),
    )
    assert reply.status_code == 401 and reply.json() == {"detail": "feishu request rejected"}


def test_feishu_without_encryption_checks_the_token(
    tmp_path: Path, fake_index_dir: Path, fake_retriever: Retriever, platform: FakePlatform
) -> None:
    platform.reset()
    settings = _settings(tmp_path, fake_index_dir, platform, feishu_encrypt_key="")
    with TestClient(create_app(settings, retriever=fake_retriever)) as client:
        check = {"challenge": "c-1", "token": FEISHU_TOKEN, "type": "url_verification"}
        assert client.post("/integrations/feishu/events", json=check).json() == {"challenge": "c-1"}
        bad = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, "wrong-token")
        assert client.post("/integrations/feishu/events", json=bad).status_code == 401
        own = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN, "app")
        good = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN)
        for event in (own, good, good):  # our own reply is ignored; a redelivery too
            assert client.post("/integrations/feishu/events", json=event).status_code == 200
        time.sleep(0.3)
        assert len(platform.wait_for("/open-apis/im/v1/messages/")) == 1


def test_feishu_token_endpoint_down_is_logged(
    client: TestClient, platform: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    platform.fail_with = 503
    event = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN)
    with caplog.at_level(logging.ERROR, logger="service.web.channels"):
        assert _feishu_post(client, event).status_code == 200
        platform.wait_for("tenant_access_token")
        time.sleep(0.2)
    assert any("feishu API call" in r.message for r in caplog.records)
    assert platform.received("/open-apis/im/") == []  # no token, no reply attempt


# --- Rendering and length limits -----------------------------------------------------------


def _long_response(language: str = "en", code_at: int = 0) -> ChatResponse:
    paragraphs = [f"Paragraph {n}: " + "docker image layers " * 12 for n in range(400)]
    if code_at:
        paragraphs.insert(code_at, "```bash\n" + "docker run --rm busybox true\n" * 200 + "```")
    citation = {
        "n": 1,
        "id": "long-entry",
        "title": "A long entry",
        "topic": "base-image",
        "language": language,
        "url": "https://docs.docker.com/build/",
        "snippet": "x",
        "score": 0.9,
    }
    return ChatResponse(
        conversation_id="c",
        message_id="m",
        answered=True,
        answer="\n\n".join(paragraphs) + " [1]",
        language=language,  # type: ignore[arg-type]
        confidence=0.9,
        citations=[citation],  # type: ignore[list-item]
        alternatives=[],
        index_version="v",
    )


@pytest.mark.parametrize("limit", [300, 3000, 5000, 16383, 30000])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_long_answers_are_cut_cleanly_with_a_link(limit: int, language: str) -> None:
    response = _long_response(language)
    text = rendering.markdown(response, "https://faq.example.com", limit)
    assert len(text) <= limit
    assert "https://faq.example.com/#/entry/long-entry" in text
    assert text.rstrip().endswith("https://docs.docker.com/build/)")  # the sources survive
    kept = text.split("\n\n…")[0]
    assert kept.split()[-1] in {"docker", "image", "layers"}  # never mid-word
    if limit >= 3000:
        assert kept.endswith("docker image layers")  # at a paragraph end


def test_a_cut_inside_a_code_block_closes_it() -> None:
    response = _long_response(code_at=3)
    text = rendering.markdown(response, "", 3000)
    assert len(text) <= 3000 and text.count("```") % 2 == 0
    assert "(https://docs.docker.com/build/)" in text  # no public URL: link the source


def test_slack_render_fits_a_section_and_speaks_mrkdwn() -> None:
    message = slack.render(_long_response(code_at=2), "https://faq.example.com")
    section = message["blocks"][0]["text"]["text"]
    assert len(section) <= slack.SECTION_LIMIT
    assert section.endswith("<https://faq.example.com/#/entry/long-entry|Read the full answer>")
    assert "```bash" not in section and section.count("```") % 2 == 0
    assert slack.mrkdwn("**bold** [docs](https://docs.docker.com/) a<b & c") == (
        "*bold* <https://docs.docker.com/|docs> a&lt;b &amp; c"
    )
    assert slack.plain("<@U0LAN0Z89> what is &lt;none&gt; <https://x.io|x.io>?") == (
        "what is <none> https://x.io?"
    )


# --- Hostile input: a clear 4xx, never a 500 ------------------------------------------------


@pytest.mark.parametrize("path", ["events", "commands", "interactions"])
@pytest.mark.parametrize("timestamp", ["abc", "1e3", "9" * 5000, "\u00b2", "-1", " 1"])
def test_slack_timestamps_that_are_not_times_are_refused(
    client: TestClient, path: str, timestamp: str
) -> None:
    body = b"token=x&text=hello"
    signed = fake_platform.slack_headers(body, SLACK_SECRET)
    # Headers are Latin-1 on the wire: "²" is a byte a client can send, and str.isdigit() says yes.
    headers = {**signed, "X-Slack-Request-Timestamp": timestamp.encode("latin-1")}
    reply = client.post(f"/integrations/slack/{path}", content=body, headers=headers)  # type: ignore[arg-type]
    assert reply.status_code == 401 and "timestamp" in reply.json()["detail"]


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"type": "event_callback", "event": "str"}'])
def test_slack_signed_events_of_the_wrong_shape(client: TestClient, body: bytes) -> None:
    reply = _slack_post(client, "events", body)
    assert reply.status_code in (200, 400), reply.text


def test_slack_interaction_payload_of_the_wrong_shape(client: TestClient) -> None:
    for payload in ('"str"', '{"type": "block_actions", "actions": "x"}', "[]"):
        body = urlencode({"payload": payload}).encode()
        assert _slack_post(client, "interactions", body).status_code in (200, 400)


@pytest.mark.parametrize("timestamp", ["9" * 5000, "\u00b2", "1e3"])
def test_dingtalk_timestamps_that_are_not_times_are_refused(
    client: TestClient, timestamp: str
) -> None:
    signed = fake_platform.dingtalk_headers(DINGTALK_SECRET)
    headers = {**signed, "timestamp": timestamp.encode("latin-1")}
    message = fake_platform.dingtalk_message(QUESTION_EN, uuid.uuid4().hex)
    reply = client.post("/integrations/dingtalk", json=message, headers=headers)  # type: ignore[arg-type]
    assert reply.status_code == 401 and "timestamp" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[1, 2]", 400),
        (b'{"msgId": "m-1", "text": "str"}', 200),  # no question: the robot asks for one
        (b'{"text": {"content": "\\ud800"}}', 400),
        (b'{"n": NaN}', 400),
    ],
)
def test_dingtalk_signed_bodies_of_the_wrong_shape(
    client: TestClient, body: bytes, status: int
) -> None:
    headers = {
        **fake_platform.dingtalk_headers(DINGTALK_SECRET),
        "content-type": "application/json",
    }
    reply = client.post("/integrations/dingtalk", content=body, headers=headers)
    assert reply.status_code == status, reply.text


def test_feishu_timestamp_of_5000_digits_is_refused(client: TestClient) -> None:
    event = fake_platform.feishu_message(QUESTION_EN, uuid.uuid4().hex, FEISHU_TOKEN)
    assert (
        _feishu_post(client, event, **{"X-Lark-Request-Timestamp": "9" * 5000}).status_code == 401
    )


def test_feishu_signed_event_of_the_wrong_shape_is_ignored(client: TestClient) -> None:
    for event in (
        {"schema": "2.0", "header": {"token": FEISHU_TOKEN}, "event": "str"},
        {"schema": "2.0", "header": {"token": FEISHU_TOKEN, "event_type": 1}, "event": []},
    ):
        assert _feishu_post(client, event).status_code == 200


def test_feishu_headers_of_the_wrong_type_are_refused(
    tmp_path: Path, fake_index_dir: Path, fake_retriever: Retriever, platform: FakePlatform
) -> None:
    settings = _settings(tmp_path, fake_index_dir, platform, feishu_encrypt_key="")
    with TestClient(create_app(settings, retriever=fake_retriever)) as client:
        for event in ({"header": "x"}, {"header": None}, {"header": []}, [1], "str"):
            reply = client.post("/integrations/feishu/events", json=event)
            assert reply.status_code == 401, reply.text


def test_feishu_says_the_same_for_every_undecryptable_event(client: TestClient) -> None:
    """An unsigned body (the URL check is one) is decrypted before its token can be checked;
    bad padding, bad JSON and a wrong token must not be told apart (a padding oracle)."""
    import base64
    import os

    replies = set()
    check = {"type": "url_verification", "token": "no"}
    good = json.loads(fake_platform.feishu_encrypt(check, FEISHU_KEY))["encrypt"]
    raw = base64.b64decode(good)
    for encrypted in (
        good.encode(),
        base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])),  # the padding is now wrong
        base64.b64encode(os.urandom(48)),
        b"not base64 at all",
    ):
        content = json.dumps({"encrypt": encrypted.decode()}).encode()
        reply = client.post("/integrations/feishu/events", content=content)
        replies.add((reply.status_code, reply.text))
    assert replies == {(401, '{"detail":"feishu request rejected"}')}

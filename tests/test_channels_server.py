"""Every chat platform against a real `dockfaq serve` (real model, real corpus plus one very
long entry) and a fake platform server that records what dockfaq posts back."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import fake_platform
from tests.conftest import CORPUS, free_port, server_env_for, start_server, stop_server, write_entry
from tests.fake_platform import FakePlatform

pytestmark = pytest.mark.slow

SLACK_SECRET = "slack-signing-secret-e2e"
MATTERMOST_TOKEN = "mattermost-token-e2e"
FEISHU_TOKEN = "feishu-token-e2e"
FEISHU_KEY = "feishu-key-e2e"
DINGTALK_SECRET = "SEC-dingtalk-e2e"
LONG_QUESTION = "How do I tune the quuxbar layer cache?"
PUBLIC = "https://faq.example.com"


@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatform]:
    fake = fake_platform.start()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory, platform: FakePlatform) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("channels")
    corpus_dir = tmp / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    paragraph = "The quuxbar layer cache keeps build layers between runs of docker build. "
    write_entry(  # about 20000 characters: over every platform's message limit but Feishu's
        corpus_dir,
        id="quuxbar-cache",
        topic="base-image",
        title_en="Tuning the quuxbar layer cache",
        title_zh="调整 quuxbar 层缓存",
        question_en=LONG_QUESTION,
        question_zh="怎么调整 quuxbar 层缓存？",
        answer_en="\n\n".join(f"Step {n}. {paragraph * 3}" for n in range(90)),
        answer_zh="\n\n".join(
            f"第 {n} 步：quuxbar 层缓存在多次构建之间保留镜像层。" * 4 for n in range(90)
        ),
    )
    return {
        **server_env_for(tmp, corpus_dir),
        "DOCKFAQ_PUBLIC_URL": PUBLIC,
        "DOCKFAQ_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "DOCKFAQ_SLACK_BOT_TOKEN": fake_platform.SLACK_BOT_TOKEN,
        "DOCKFAQ_SLACK_API_URL": f"{platform.url}/api",
        "DOCKFAQ_MATTERMOST_TOKEN": MATTERMOST_TOKEN,
        "DOCKFAQ_FEISHU_APP_ID": fake_platform.FEISHU_APP_ID,
        "DOCKFAQ_FEISHU_APP_SECRET": fake_platform.FEISHU_APP_SECRET,
        "DOCKFAQ_FEISHU_VERIFICATION_TOKEN": FEISHU_TOKEN,
        "DOCKFAQ_FEISHU_ENCRYPT_KEY": FEISHU_KEY,
        "DOCKFAQ_FEISHU_API_URL": platform.url,
        "DOCKFAQ_DINGTALK_APP_SECRET": DINGTALK_SECRET,
    }


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[str]:
    log = Path(server_env["DOCKFAQ_DATA_DIR"]).parent / "server.log"
    process, base = start_server(server_env, log)
    yield base
    stop_server(process)


def _slack(base: str, body: bytes, path: str = "events", **headers: str) -> httpx.Response:
    signed = {**fake_platform.slack_headers(body, SLACK_SECRET), **headers}
    return httpx.post(f"{base}/integrations/slack/{path}", content=body, headers=signed)


def _feishu(base: str, event: dict[str, object]) -> httpx.Response:
    body = fake_platform.feishu_encrypt(event, FEISHU_KEY)
    headers = fake_platform.feishu_headers(body, FEISHU_KEY)
    return httpx.post(f"{base}/integrations/feishu/events", content=body, headers=headers)


def _outcomes(base: str, platform: str) -> dict[str, float]:
    """dockfaq_channel_events_total of ``platform`` by outcome. Every outcome that posts
    nothing (duplicate, ignored, rejected) is counted before the reply is sent, so a test
    knows nothing will be posted without waiting to see."""
    families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
    return {
        sample.labels["outcome"]: sample.value
        for family in families
        if family.name == "dockfaq_channel_events"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["platform"] == platform
    }


def _added(
    base: str, platform: str, before: dict[str, float], expected: dict[str, float]
) -> dict[str, float]:
    """The outcomes counted since ``before``, once they equal ``expected`` or after 10 s
    ("answered" is counted when the platform's API has replied, a moment after the post)."""
    deadline = time.monotonic() + 10
    while True:
        now = _outcomes(base, platform)
        added = {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}
        if added == expected or time.monotonic() > deadline:
            return added
        time.sleep(0.05)


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_slack(server: str, platform: FakePlatform) -> None:
    platform.reset()
    event = fake_platform.slack_mention(
        "docker save 和 docker export 有什么区别", "Ev" + uuid.uuid4().hex
    )
    body = json.dumps(event).encode()
    before = _outcomes(server, "slack")
    acknowledged = _slack(server, body)
    # The acknowledgement carries no answer: that comes separately, in the thread.
    assert acknowledged.status_code == 200 and acknowledged.content == b""
    retry = _slack(server, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    assert retry.status_code == 200
    [post] = platform.wait_for("/api/chat.postMessage")
    expected = {"answered": 1, "duplicate": 1}
    assert _added(server, "slack", before, expected) == expected
    assert post.authorized and post.body["thread_ts"] == event["event"]["ts"]  # type: ignore[index]
    answer = post.body["blocks"][0]["text"]["text"]
    assert _cjk(answer) and "[1]" in answer
    assert "save-vs-export" in json.dumps(post.body) or "docs.docker.com" in json.dumps(post.body)

    forged = fake_platform.slack_mention("what is an image", "Ev" + uuid.uuid4().hex)
    stale = fake_platform.slack_headers(
        json.dumps(forged).encode(), SLACK_SECRET, int(time.time()) - 600
    )
    reply = httpx.post(
        f"{server}/integrations/slack/events", content=json.dumps(forged).encode(), headers=stale
    )
    assert reply.status_code == 401
    bad = fake_platform.slack_headers(json.dumps(forged).encode(), "not-the-secret")
    reply = httpx.post(
        f"{server}/integrations/slack/events", content=json.dumps(forged).encode(), headers=bad
    )
    assert reply.status_code == 401
    # Both refused before any work was scheduled: nothing more will be posted.
    expected = {"answered": 1, "duplicate": 1, "rejected": 2}
    assert _added(server, "slack", before, expected) == expected
    assert len(platform.received("/api/")) == 1

    # The long entry: cut to one Block Kit section, with a link to the rest on the page.
    long_form = urlencode(
        {"team_id": "T1", "channel_id": "C1", "user_id": "U1", "text": LONG_QUESTION}
    )
    command = _slack(server, long_form.encode(), path="commands").json()
    section = command["blocks"][0]["text"]["text"]
    assert len(section) <= 3000 and section.endswith(
        f"<{PUBLIC}/#/entry/quuxbar-cache|Read the full answer>"
    )


def test_slack_outage_is_logged_and_does_not_block(server: str, platform: FakePlatform) -> None:
    platform.reset()
    platform.fail_with = 500
    for _ in range(3):
        event = fake_platform.slack_mention("what is a dangling image", "Ev" + uuid.uuid4().hex)
        assert _slack(server, json.dumps(event).encode()).status_code == 200
    platform.wait_for("/api/chat.postMessage", 3)
    assert httpx.post(f"{server}/chat", json={"message": "what is an image"}).status_code == 200
    metrics = httpx.get(f"{server}/metrics").text
    assert 'dockfaq_channel_posts_total{outcome="failed",platform="slack"} 3.0' in metrics
    platform.reset()


def test_platform_refusing_connections(
    tmp_path: Path, server: str, server_env: dict[str, str]
) -> None:
    """Platform APIs where nothing listens: logged; the server carries on."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {
        **server_env,  # the index the first server built, read only here
        "DOCKFAQ_DATA_DIR": str(tmp_path / "data"),
        "DOCKFAQ_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "DOCKFAQ_SLACK_BOT_TOKEN": fake_platform.SLACK_BOT_TOKEN,
        "DOCKFAQ_SLACK_API_URL": f"{nowhere}/api",
        "DOCKFAQ_FEISHU_APP_ID": fake_platform.FEISHU_APP_ID,
        "DOCKFAQ_FEISHU_APP_SECRET": fake_platform.FEISHU_APP_SECRET,
        "DOCKFAQ_FEISHU_VERIFICATION_TOKEN": FEISHU_TOKEN,
        "DOCKFAQ_FEISHU_ENCRYPT_KEY": FEISHU_KEY,
        "DOCKFAQ_FEISHU_API_URL": nowhere,
    }
    log = tmp_path / "refused.log"
    process, base = start_server(env, log)
    try:
        event = fake_platform.slack_mention("what is an image", "Ev" + uuid.uuid4().hex)
        assert _slack(base, json.dumps(event).encode()).status_code == 200
        message = fake_platform.feishu_message("what is an image", uuid.uuid4().hex, FEISHU_TOKEN)
        assert _feishu(base, message).status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and log.read_text().count("ConnectError") < 2:
            time.sleep(0.2)
        logged = log.read_text()
        assert "slack API call" in logged and "feishu API call" in logged, logged
        assert httpx.post(f"{base}/chat", json={"message": "what is an image"}).status_code == 200
    finally:
        stop_server(process)


def test_mattermost(server: str) -> None:
    hook = {
        "channel_id": "hawos4dqtby53pd64o4a4cmeoo",
        "post_id": "axdygg1957njfe5pu38saikdho",
        "team_id": "kwoknj9nwpypzgzy78wkw516qe",
        "text": "#dockfaq why does my container exit immediately",
        "token": MATTERMOST_TOKEN,
        "trigger_word": "#dockfaq",
        "user_id": "rnina9994bde8mua79zqcg5hmo",
    }
    reply = httpx.post(f"{server}/integrations/mattermost", data=hook).json()
    assert reply["response_type"] == "comment"
    assert "[1]" in reply["text"] and "](https://docs.docker.com/" in reply["text"]
    assert not _cjk(reply["text"])
    wrong = httpx.post(f"{server}/integrations/mattermost", json={**hook, "token": "guess"})
    assert wrong.status_code == 401
    command = {
        "command": "/dockfaq",
        "text": LONG_QUESTION,
        "token": MATTERMOST_TOKEN,
        "channel_id": "c",
    }
    long = httpx.post(f"{server}/integrations/mattermost", json=command).json()
    assert long["response_type"] == "in_channel"
    assert 10000 < len(long["text"]) <= 16383
    assert f"({PUBLIC}/#/entry/quuxbar-cache)" in long["text"]


def test_dingtalk(server: str) -> None:
    message = fake_platform.dingtalk_message("如何以非 root 用户运行容器", uuid.uuid4().hex)
    headers = fake_platform.dingtalk_headers(DINGTALK_SECRET)
    reply = httpx.post(f"{server}/integrations/dingtalk", json=message, headers=headers).json()
    text = reply["markdown"]["text"]
    assert reply["msgtype"] == "markdown" and _cjk(text) and "[1]" in text and "来源" in text
    old = fake_platform.dingtalk_headers(DINGTALK_SECRET, int(time.time() * 1000) - 2 * 3600 * 1000)
    assert (
        httpx.post(f"{server}/integrations/dingtalk", json=message, headers=old).status_code == 401
    )
    forged = fake_platform.dingtalk_headers("SEC-guess")
    assert (
        httpx.post(f"{server}/integrations/dingtalk", json=message, headers=forged).status_code
        == 401
    )
    long = fake_platform.dingtalk_message(LONG_QUESTION, uuid.uuid4().hex)
    long_text = httpx.post(f"{server}/integrations/dingtalk", json=long, headers=headers).json()
    assert len(long_text["markdown"]["text"]) <= 5000
    assert f"({PUBLIC}/#/entry/quuxbar-cache)" in long_text["markdown"]["text"]


def test_feishu(server: str, platform: FakePlatform) -> None:
    platform.reset()
    event = fake_platform.feishu_message(
        "docker 镜像和容器有什么区别", uuid.uuid4().hex, FEISHU_TOKEN
    )
    before = _outcomes(server, "feishu")
    assert _feishu(server, event).status_code == 200
    [reply] = platform.wait_for("/open-apis/im/v1/messages/")
    assert reply.authorized
    content = json.loads(reply.body["content"])
    [[paragraph]] = content["zh_cn"]["content"]
    assert _cjk(paragraph["text"]) and "[1]" in paragraph["text"]
    assert "](https://docs.docker.com/" in paragraph["text"]
    assert _feishu(server, event).status_code == 200  # redelivered: not answered again
    tampered = fake_platform.feishu_encrypt(event, FEISHU_KEY)
    headers = fake_platform.feishu_headers(tampered, FEISHU_KEY)
    headers["X-Lark-Signature"] = "f" * 64
    rejected = httpx.post(f"{server}/integrations/feishu/events", content=tampered, headers=headers)
    assert rejected.status_code == 401
    # The redelivery and the forgery were refused before any work was scheduled.
    expected = {"answered": 1, "duplicate": 1, "rejected": 1}
    assert _added(server, "feishu", before, expected) == expected
    assert len(platform.received("/open-apis/im/")) == 1

"""The product as a user meets it: a real `dockfaq serve` process, the real model, over HTTP."""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    CORPUS,
    DOCKFAQ,
    server_env_for,
    spoofed_searches,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return server_env_for(tmp_path_factory.mktemp("server"), CORPUS)


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[str]:
    """A server started with no index: it must build one, then become ready."""
    process, base = start_server(
        server_env, Path(server_env["DOCKFAQ_DATA_DIR"]).parent / "server.log"
    )
    yield base
    stop_server(process)


@pytest.mark.parametrize(
    ("question", "language", "topic"),
    [
        ("docker中镜像和容器的区别", "zh", "image-vs-container"),
        ("why does my container exit immediately after docker run", "en", "container-exits"),
        ("docker save vs docker export", "en", "save-load-export-import"),
        ("如何在容器中以非root用户运行脚本", "zh", "non-root"),
        ("docker pull 镜像 推送到私有仓库 怎么弄", "zh", "image-registry"),
        ("how do I make my image smaller with a multi-stage build", "en", "base-image"),
    ],
)
def test_answers_in_both_languages(server: str, question: str, language: str, topic: str) -> None:
    response = httpx.post(f"{server}/chat", json={"message": question}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["answered"] is True, body
    assert body["language"] == language
    assert body["citations"][0]["topic"] == topic
    assert body["citations"][0]["language"] == language
    if language == "zh":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["answer"])


# A bare "Error: Cannot find module 'x'" is no longer here: the corpus now answers that symptom
# for containers (a bind mount hiding node_modules), and with no context either reading is fair.
@pytest.mark.parametrize(
    "question",
    [
        "TypeError: Cannot read properties of undefined (reading 'map') in my React component",
        "git push rejected non-fast-forward",
        "东南亚BCD功率集成电路市场规模",
        "今天北京天气怎么样",
    ],
)
def test_refuses_what_the_corpus_does_not_answer(server: str, question: str) -> None:
    body = httpx.post(f"{server}/chat", json={"message": question}, timeout=30).json()
    assert body["answered"] is False and body["citations"] == []


def test_search_and_validation_over_http(server: str) -> None:
    body = httpx.get(f"{server}/search", params={"q": "exit code 137"}, timeout=30).json()
    assert body["results"][0]["id"] == "exit-codes"
    too_long = httpx.post(f"{server}/chat", json={"message": "x" * 2001}, timeout=30)
    assert too_long.status_code == 422 and "detail" in too_long.json()


def test_build_refuses_broken_corpus_and_keeps_index(tmp_path: Path) -> None:
    corpus_dir = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "manifest.json").write_text('{"sentinel": true}')
    broken = corpus_dir / "base-image" / "scratch-base-image.md"
    broken.write_text(broken.read_text().replace("topic:", "topic: [", 1))
    result = subprocess.run(
        [DOCKFAQ, "build"], env=server_env_for(tmp_path, corpus_dir), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "scratch-base-image.md" in result.stderr
    assert (tmp_path / "index" / "manifest.json").read_text() == '{"sentinel": true}'


def test_openai_client_against_the_server(server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["dockfaq"]
    completion = client.chat.completions.create(
        model="dockfaq", messages=[{"role": "user", "content": "docker save vs docker export"}]
    )
    assert "[1]" in (completion.choices[0].message.content or "")
    assert completion.model_extra["citations"][0]["id"] == "save-vs-export"
    stream = client.chat.completions.create(
        model="dockfaq",
        stream=True,
        messages=[{"role": "user", "content": "如何在容器中以非root用户运行脚本"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "[1]" in text and "USER" in text
    assert chunks[-1].model_extra["citations"][0]["topic"] == "non-root"


def converse(first: str, then: str, question: str, follow_up: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Ask ``question`` on server ``first``, then ``follow_up`` in the same conversation on
    ``then``; returns both /chat bodies."""
    started = httpx.post(f"{first}/chat", json={"message": question}, timeout=30).json()
    body = {"message": follow_up, "conversation_id": started["conversation_id"]}
    return started, httpx.post(f"{then}/chat", json=body, timeout=30).json()


def test_follow_up_uses_the_conversation(server: str) -> None:
    _, follow = converse(
        server,
        server,
        "How do I save an image to a tar file?",
        "and how do I load it on the other machine?",
    )
    assert follow["answered"] and follow["citations"][0]["topic"] == "save-load-export-import"


def test_feedback_survives_kill_9(server_env: dict[str, str], server: str) -> None:
    import sqlite3

    env = {**server_env, "DOCKFAQ_DATA_DIR": server_env["DOCKFAQ_DATA_DIR"] + "-kill"}
    process, base = start_server(env, Path(env["DOCKFAQ_DATA_DIR"] + ".log"))
    try:
        asked = httpx.post(
            f"{base}/chat", json={"message": "docker save vs docker export"}, timeout=30
        ).json()
        response = httpx.post(
            f"{base}/feedback",
            json={"message_id": asked["message_id"], "rating": "up", "comment": "保留"},
            timeout=30,
        )
        assert response.status_code == 201
    finally:
        process.kill()  # SIGKILL: no shutdown hook runs
        process.wait(timeout=30)
    db = sqlite3.connect(Path(env["DOCKFAQ_DATA_DIR"]) / "dockfaq.sqlite3")
    assert db.execute("SELECT rating, comment FROM feedback").fetchall() == [("up", "保留")]
    assert db.execute("SELECT count(*) FROM turns").fetchone()[0] == 1


def test_two_servers_share_conversations_through_redis(
    server_env: dict[str, str], server: str, redis_url: str
) -> None:
    env = {**server_env, "DOCKFAQ_REDIS_URL": redis_url}
    logs = Path(server_env["DOCKFAQ_DATA_DIR"]).parent
    first, a = start_server(env, logs / "a.log")
    second, b = start_server(env, logs / "b.log")
    try:
        started, follow = converse(
            a, b, "docker 怎么把镜像导出成文件", "那怎么在另一台机器上导入？"
        )
        assert follow["citations"][0]["topic"] == "save-load-export-import"
        feedback = httpx.post(
            f"{b}/feedback", json={"message_id": started["message_id"], "rating": "up"}, timeout=30
        )
        assert feedback.status_code == 201  # B knows a message that A answered
    finally:
        stop_server(first)
        stop_server(second)


def test_sighup_reloads_the_index(tmp_path: Path, real_index_dir: Path) -> None:
    import signal

    corpus_dir = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    env = server_env_for(tmp_path, corpus_dir)
    shutil.copytree(real_index_dir, env["DOCKFAQ_INDEX_DIR"])
    process, base = start_server(env, tmp_path / "server.log")
    try:
        before = httpx.get(f"{base}/readyz", timeout=5).json()["index_version"]
        entry = corpus_dir / "non-root" / "user-flag.md"
        entry.write_text(entry.read_text().replace("## en\n", "## en\nReloaded by SIGHUP.\n", 1))
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ready = httpx.get(f"{base}/readyz", timeout=5)
            assert ready.status_code == 200  # the old index serves during the rebuild
            if ready.json()["index_version"] != before:
                break
            time.sleep(1)
        else:
            pytest.fail("SIGHUP did not reload:\n" + (tmp_path / "server.log").read_text())
        answer = httpx.get(f"{base}/entries/user-flag", timeout=5).json()["answer"]["en"]
        assert answer.startswith("Reloaded by SIGHUP.")
    finally:
        stop_server(process)


def test_an_index_of_another_corpus_is_rebuilt_before_serving(
    tmp_path: Path, real_index_dir: Path
) -> None:
    """An upgraded image (or an edited corpus) next to the index of the old corpus: the server
    rebuilds before it serves, and says so."""
    import json

    corpus_dir = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    entry = corpus_dir / "non-root" / "user-flag.md"
    entry.write_text(entry.read_text().replace("## en\n", "## en\nFrom the new corpus.\n", 1))
    env = server_env_for(tmp_path, corpus_dir)
    shutil.copytree(real_index_dir, env["DOCKFAQ_INDEX_DIR"])
    old = json.loads((real_index_dir / "manifest.json").read_text())["index_version"]
    process, base = start_server(env, tmp_path / "server.log")
    try:
        assert httpx.get(f"{base}/readyz", timeout=5).json()["index_version"] != old
        answer = httpx.get(f"{base}/entries/user-flag", timeout=5).json()["answer"]["en"]
        assert answer.startswith("From the new corpus.")
    finally:
        stop_server(process)
    log = (tmp_path / "server.log").read_text()
    assert "rebuilding the index" in log and "the corpus in" in log


def test_reloads_leave_the_server_as_small_as_before(tmp_path: Path, real_index_dir: Path) -> None:
    """The build (PyTorch, the ONNX export, embedding the corpus) runs in a child process: in
    the server it took RSS from about 310 MB to 2.15 GB for good."""
    corpus_dir = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    env = {**server_env_for(tmp_path, corpus_dir), "DOCKFAQ_ADMIN_KEY": "admin-key-0123456789"}
    shutil.copytree(real_index_dir, env["DOCKFAQ_INDEX_DIR"])
    process, base = start_server(env, tmp_path / "server.log")
    admin = {"Authorization": "Bearer admin-key-0123456789"}
    try:
        httpx.post(f"{base}/chat", json={"message": "docker save"}, timeout=30)
        before = _rss_mb(process.pid)
        entry = corpus_dir / "non-root" / "user-flag.md"
        for n in range(3):
            entry.write_text(entry.read_text().replace("## en\n", f"## en\nReload {n}.\n", 1))
            reloaded = httpx.post(f"{base}/admin/reload", headers=admin, timeout=300)
            assert reloaded.status_code == 200, reloaded.text
        answer = httpx.get(f"{base}/entries/user-flag", timeout=5).json()["answer"]["en"]
        assert answer.startswith("Reload 2.")
        after = _rss_mb(process.pid)
        assert after <= 1.3 * before, (before, after)
        entry.write_text("---\nbroken: [\n")
        refused = httpx.post(f"{base}/admin/reload", headers=admin, timeout=300)
        assert refused.status_code == 422 and "user-flag" in refused.json()["detail"]
    finally:
        stop_server(process)
    print(f"RSS {before:.0f} MB before three reloads, {after:.0f} MB after")


def test_forwarded_for_counts_only_from_a_trusted_proxy(
    server_env: dict[str, str], server: str
) -> None:
    """uvicorn alone trusts X-Forwarded-For from 127.0.0.1: a local client (or anything behind
    a local tunnel) could pick a new address per request and never meet the rate limit."""
    logs = Path(server_env["DOCKFAQ_DATA_DIR"]).parent
    for trusted, expected in (("", [200] * 3 + [429] * 3), ("127.0.0.1", [200] * 6)):
        env = {
            **server_env,
            "DOCKFAQ_RATE_LIMIT": "3/minute",
            "DOCKFAQ_TRUSTED_PROXIES": trusted,
            "DOCKFAQ_DATA_DIR": server_env["DOCKFAQ_DATA_DIR"] + f"-xff{bool(trusted)}",
        }
        process, base = start_server(env, logs / f"xff-{bool(trusted)}.log")
        try:
            codes = spoofed_searches(base, 6)
        finally:
            stop_server(process)
        assert codes == expected, (trusted, codes)


def _raw(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _flood(base: str, size: int) -> None:
    with _raw(base) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(size // 65536):
                sock.sendall(b"a" * 65536)
        except OSError:
            pass  # the server hung up: what it should do


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def test_oversized_or_slow_headers_are_cut_off(server_env: dict[str, str], server: str) -> None:
    """What uvicorn alone lets through: a header that never ends (the server buffered 50 MB per
    connection) and headers sent a byte at a time (the connection stayed open for ever)."""
    env = {
        **server_env,
        "DOCKFAQ_HEADER_TIMEOUT": "1.5",
        "DOCKFAQ_DATA_DIR": server_env["DOCKFAQ_DATA_DIR"] + "-headers",
    }
    process, base = start_server(env, Path(env["DOCKFAQ_DATA_DIR"] + ".log"))
    try:
        with _raw(base) as huge:
            huge.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000)
            reply = _read_all(huge)  # never finished: the server answers anyway
        assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
        assert b'"detail": "request headers over 65536 bytes"' in reply
        # Ten clients sending 3 MB each of one header: the server holds none of it.
        before = _rss_mb(process.pid)
        threads = [threading.Thread(target=_flood, args=(base, 3 << 20)) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert _rss_mb(process.pid) - before < 40, (before, _rss_mb(process.pid))

        with _raw(base) as slow:
            started = time.monotonic()
            slow.sendall(b"GET /healthz HTTP/1.1\r\n")
            slow.sendall(b"Host: x\r\n")
            reply = _read_all(slow)  # the server closes after 1.5 s
            waited = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 408 ") and waited < 8, (reply[:200], waited)

        with _raw(base) as kept:  # the second request on a kept-alive connection is timed too
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            first = b""
            while not first.endswith(b"}"):  # the JSON body of /healthz
                first += kept.recv(65536)
            assert first.startswith(b"HTTP/1.1 200 ")
            time.sleep(1)
            started = time.monotonic()
            kept.sendall(b"GET /healthz HTTP/1.1\r\n")
            time.sleep(1)
            kept.sendall(b"Host: x\r\n")
            reply = _read_all(kept)
            waited = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 408 ") and 1.4 < waited < 8, (reply[:200], waited)

        host, port = base.removeprefix("http://").split(":")
        fine = http.client.HTTPConnection(host, int(port), timeout=10)  # kept alive
        fine.request("GET", "/healthz", headers={"X-Pad": "p" * 8000})
        assert fine.getresponse().read() and fine.sock is not None
        time.sleep(2)  # idle longer than the header timeout, inside keep-alive: still served
        fine.request("GET", "/healthz")
        assert fine.getresponse().status == 200
        fine.close()
    finally:
        stop_server(process)


def test_a_stopping_server_answers_a_request_on_a_connection_it_already_took(
    tmp_path: Path, real_index_dir: Path
) -> None:
    """uvicorn closed a connection with no request yet at once on shutdown (a worker retired by
    a reload): a request already on its way was lost. Now it is answered, and the connection
    and the server close after it; a connection that stays silent is closed."""
    import signal

    from service.web.protocol import DRAIN_SECONDS

    env = server_env_for(tmp_path, CORPUS)
    shutil.copytree(real_index_dir, env["DOCKFAQ_INDEX_DIR"])
    process, base = start_server(env, tmp_path / "server.log")
    try:
        with _raw(base) as late, _raw(base) as silent:
            time.sleep(0.3)  # the server has taken both connections
            process.send_signal(signal.SIGTERM)
            time.sleep(DRAIN_SECONDS / 4)  # the server is shutting down
            late.sendall(b"GET /entries/user-flag HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = _read_all(late)  # until the server closes it
            assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
            assert b"connection: close" in reply.lower() and b'"user-flag"' in reply
            started = time.monotonic()
            assert _read_all(silent) == b""  # closed, not answered
            assert time.monotonic() - started < DRAIN_SECONDS + 2
        # uvicorn raises the signal again once it has shut down
        assert process.wait(timeout=30) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            stop_server(process)

"""The product as a user meets it: a real `dockfaq serve` process, the real model, over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CORPUS

pytestmark = pytest.mark.slow
DOCKFAQ = str(Path(sys.executable).parent / "dockfaq")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, corpus_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKFAQ_CORPUS_DIR": str(corpus_dir),
        "DOCKFAQ_INDEX_DIR": str(tmp / "index"),
        "DOCKFAQ_DATA_DIR": str(tmp / "data"),
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server started with no index: it must build one, then become ready."""
    tmp = tmp_path_factory.mktemp("server")
    port = _free_port()
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [DOCKFAQ, "serve", "--port", str(port)],
        env=_env(tmp, CORPUS),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp / "server.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("server never became ready:\n" + (tmp / "server.log").read_text())
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


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


@pytest.mark.parametrize(
    "question", ["Error: Cannot find module 'gulp-uglify'", "2024年东南亚BCD功率集成电路市场"]
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
        [DOCKFAQ, "build"], env=_env(tmp_path, corpus_dir), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "scratch-base-image.md" in result.stderr
    assert (tmp_path / "index" / "manifest.json").read_text() == '{"sentinel": true}'

"""Shared fixtures: a deterministic fake embedder, corpus writers, session-scoped indexes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from service import corpus, engine, store
from service.conversations import RedisStore
from service.errors import ConfigError
from service.retrieval import Retriever

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


class FakeEmbedder:
    """Hashes words into a small vector: fast, deterministic, similar texts share words."""

    name = "fake-hash"
    dimension = 256

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


ENTRY = """\
---
id: {id}
topic: {topic}
title: {{en: "{title_en}", zh: "{title_zh}"}}
questions:
  en: ["{question_en}"]
  zh: ["{question_zh}"]
sources: ["https://docs.docker.com/reference/cli/docker/"]
tags: [test]
---
## en
{answer_en}

## zh
{answer_zh}
"""


def entry_text(**fields: str) -> str:
    values = {
        "id": "sample-entry",
        "topic": "image-vs-container",
        "title_en": "Sample title",
        "title_zh": "示例标题",
        "question_en": "What is a sample?",
        "question_zh": "什么是示例？",
        "answer_en": "A sample answer.",
        "answer_zh": "一个示例答案。",
    }
    values.update(fields)
    return textwrap.dedent(ENTRY).format(**values)


def write_entry(corpus_dir: Path, **fields: str) -> Path:
    """Write one valid entry (fields override the defaults) and return its path."""
    text = entry_text(**fields)
    entry_id = fields.get("id", "sample-entry")
    topic = fields.get("topic", "image-vs-container")
    path = corpus_dir / topic / f"{entry_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def fake_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real corpus, indexed with the fake embedder (fast; for unit and API tests)."""
    index_dir = tmp_path_factory.mktemp("fake-index") / "index"
    engine.build_index(CORPUS, index_dir, FakeEmbedder())
    return index_dir


@pytest.fixture(scope="session")
def fake_retriever(fake_index_dir: Path) -> Retriever:
    embedder = FakeEmbedder()
    return Retriever(store.load(fake_index_dir, embedder), embedder)


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from service.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """The real corpus indexed with the real model: what the product serves."""
    index_dir = tmp_path_factory.mktemp("real-index") / "index"
    engine.build_index(CORPUS, index_dir, real_embedder)
    return index_dir


@pytest.fixture(scope="session")
def served_embedder(real_index_dir: Path):  # type: ignore[no-untyped-def]
    """The encoder the index carries (int8 ONNX): what embeds questions in production."""
    from service.embedding import OnnxEmbedder

    return OnnxEmbedder(real_index_dir)


@pytest.fixture(scope="session")
def real_retriever(real_index_dir: Path, served_embedder) -> Retriever:  # type: ignore[no-untyped-def]
    return Retriever(store.load(real_index_dir, served_embedder), served_embedder)


@pytest.fixture(scope="session")
def entries() -> list[corpus.Entry]:
    return corpus.load(CORPUS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port (installed by `make test`)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: `make test` installs it (apt-get install redis-server)"
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            try:
                RedisStore(url, 60).close()
                break
            except ConfigError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


DOCKFAQ = str(Path(sys.executable).parent / "dockfaq")


def server_env_for(tmp: Path, corpus_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKFAQ_CORPUS_DIR": str(corpus_dir),
        "DOCKFAQ_INDEX_DIR": str(tmp / "index"),
        "DOCKFAQ_DATA_DIR": str(tmp / "data"),
        "HF_HUB_OFFLINE": "1",
        # One process, so a test sees the process it signals or measures; tests/test_workers.py
        # runs several.
        "DOCKFAQ_WORKERS": "1",
    }


def spoofed_searches(base: str, count: int) -> list[int]:
    """Statuses of ``count`` searches, each claiming another X-Forwarded-For address."""
    return [
        httpx.get(
            f"{base}/search",
            params={"q": "docker"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            timeout=30,
        ).status_code
        for i in range(count)
    ]


LOAD_QUESTIONS = [
    "docker save vs docker export",
    "why does my container exit immediately",
    "如何在容器中以非root用户运行脚本",
    "exit code 137",
    "docker中镜像和容器的区别",
]


def load_with_a_kill(base: str, kill: Callable[[], None], per_worker: int) -> list[int]:
    """Statuses of 8 workers x ``per_worker`` /chat requests (0: no response), with ``kill``
    (a replica dying) called once 100 of them have come back."""
    results: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for i in range(per_worker):
                message = LOAD_QUESTIONS[(n + i) % len(LOAD_QUESTIONS)]
                try:
                    code = client.post("/chat", json={"message": message}).status_code
                except httpx.HTTPError:
                    code = 0
                with lock:
                    results.append(code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(results) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    kill()  # mid-load
    for thread in threads:
        thread.join(timeout=180)
    return results


def start_server(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `dockfaq serve` and wait until /readyz says 200; returns the process and base URL."""
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [DOCKFAQ, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail("server never became ready:\n" + log_path.read_text())


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


# ---- The container tests (tests/test_containers.py) build images for minutes: the build starts
# as soon as they are collected and runs beside the other tests, and they run last.


def _in_containers(item: pytest.Item) -> bool:
    return item.path.name == "test_containers.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_in_containers)  # stable: the others keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(_in_containers(item) for item in session.items):
        from tests.docker_engine import ENGINE

        ENGINE.start()
        if not ENGINE.unavailable:
            ENGINE.build_in_background()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.docker_engine import ENGINE

    ENGINE.stop()

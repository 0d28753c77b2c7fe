"""The image and the compose file on a real Docker engine, built offline (tests/docker_engine.py):
what a user does with them, from `docker run` to an upgrade, and the scale profile losing a
replica under load. These tests run last: the image builds beside the rest of the suite."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, free_port, load_with_a_kill, write_entry
from tests.docker_engine import (
    ENGINE,
    SERVICES_IMAGE,
    UPGRADE_ENTRY,
    UPGRADE_FIELDS,
    UPGRADE_IMAGE,
    UPGRADE_QUESTION,
    Engine,
)

pytestmark = pytest.mark.slow

IMAGE = "dockfaq:latest"
SAVE = "How do I save an image to a tar file?"
LOAD = "and how do I load it on the other machine?"


@pytest.fixture(scope="module")
def engine() -> Engine:
    ENGINE.start()
    if ENGINE.unavailable:
        pytest.skip(f"no Docker engine can run here: {ENGINE.unavailable}")
    ENGINE.wait_for_images()
    return ENGINE


def _wait_ready(base: str, seconds: float) -> float:
    """Seconds until /readyz said 200; fails after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{base}/readyz not ready within {seconds} s")


def _ask(base: str, message: str, conversation: str | None = None) -> dict[str, Any]:
    body = {"message": message, "conversation_id": conversation}
    response = httpx.post(f"{base}/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_image_answers_as_a_user_runs_it(engine: Engine) -> None:
    """`docker run -d -p 127.0.0.1:<port>:8000 dockfaq:latest`, as in the README."""
    port = free_port()
    container = engine.docker("run", "-d", "-p", f"127.0.0.1:{port}:8000", IMAGE)
    try:
        base = f"http://127.0.0.1:{port}"
        ready_after = _wait_ready(base, 60)
        print(f"container ready {ready_after:.1f} s after docker run returned")

        zh = _ask(base, "docker中镜像和容器的区别")
        assert zh["answered"] and zh["language"] == "zh"
        assert zh["citations"][0]["topic"] == "image-vs-container"
        en = _ask(base, "My container exits immediately after docker run -d, why?")
        assert en["answered"] and en["language"] == "en"
        assert en["citations"][0]["topic"] == "container-exits"

        assert engine.docker("exec", container, "id", "-u") == "10001"
        # No build tools in the final stage.
        assert engine.docker("exec", container, "sh", "-c", "command -v pip gcc || true") == ""

        deadline = time.monotonic() + 60
        while (status := _health(engine, container)) != "healthy":
            assert status == "starting" and time.monotonic() < deadline, status
            time.sleep(1)

        started = time.monotonic()
        engine.docker("stop", container)  # SIGTERM, then SIGKILL after 10 s
        stopped_after = time.monotonic() - started
        state = json.loads(engine.docker("inspect", "--format", "{{json .State}}", container))
        print(f"docker stop took {stopped_after:.1f} s, exit code {state['ExitCode']}")
        assert state["ExitCode"] == 0, "PID 1 stops on SIGTERM (137 would mean it was killed)"
        assert stopped_after < 5, "PID 1 stops at once on SIGTERM (docker stop kills at 10 s)"
    finally:
        engine.docker("rm", "-f", container, check=False)


def test_a_corpus_mounted_over_the_image_is_indexed_before_serving(
    engine: Engine, tmp_path: Path
) -> None:
    """The image has no PyTorch: the index of a mounted corpus is built with the image's ONNX
    encoder, in the container, before the server says ready."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    write_entry(corpus, **UPGRADE_FIELDS)
    port = free_port()
    container = engine.docker(
        "run", "-d", "-p", f"127.0.0.1:{port}:8000", "-v", f"{corpus}:/app/corpus:ro", IMAGE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        print(f"mounted corpus indexed and served after {_wait_ready(base, 180):.1f} s")
        assert _ask(base, UPGRADE_QUESTION)["citations"][0]["id"] == UPGRADE_ENTRY
        logs = subprocess.run(
            ["docker", "logs", container], env=engine.env, capture_output=True, text=True
        )
        assert "rebuilding the index" in logs.stderr + logs.stdout
        torch = subprocess.run(
            ["docker", "exec", container, "python", "-c", "import torch"],
            env=engine.env,
            capture_output=True,
            text=True,
        )
        assert "No module named 'torch'" in torch.stderr
    finally:
        engine.docker("rm", "-f", container, check=False)


def _health(engine: Engine, container: str) -> str:
    return engine.docker("inspect", "--format", "{{.State.Health.Status}}", container)


class Compose:
    """docker-compose (v1, Debian's) on the repository's compose file, in a project of its own."""

    def __init__(self, engine: Engine, project: str, files: list[Path], env: dict[str, str]):
        self.args = ["-p", project, "--project-directory", str(ROOT)]
        for file in files:
            self.args += ["-f", str(file)]
        self.env = {**engine.env, **env}

    def __call__(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            ["docker-compose", *self.args, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stderr}"
        return done.stdout.strip()

    def down(self) -> None:
        try:
            self("down", "-v", "--remove-orphans", "-t", "5")
        except AssertionError as error:
            print(error)


def test_compose_keeps_conversations_across_a_restart_and_an_upgrade(engine: Engine) -> None:
    port = free_port()
    compose = Compose(
        engine,
        f"dockfaq-test-{port}",
        [ROOT / "docker-compose.yml"],
        {"DOCKFAQ_PUBLISH": f"127.0.0.1:{port}", "DOCKFAQ_IMAGE": IMAGE},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        compose("up", "-d", "--no-build")
        _wait_ready(base, 60)
        first = _ask(base, SAVE)
        conversation = first["conversation_id"]

        compose("restart", "-t", "5", "dockfaq")
        _wait_ready(base, 60)
        second = _ask(base, LOAD, conversation)
        assert second["conversation_id"] == conversation
        assert second["citations"][0]["topic"] == "save-load-export-import"

        # The upgrade: the next image (a new corpus entry; built by the engine fixture), then
        # `up -d` again with it.
        entry = f"{base}/entries/{UPGRADE_ENTRY}"
        assert httpx.get(entry, timeout=10).status_code == 404
        compose.env["DOCKFAQ_IMAGE"] = UPGRADE_IMAGE
        compose("up", "-d", "--no-build")
        _wait_ready(base, 60)
        assert httpx.get(entry, timeout=10).status_code == 200
        upgraded = _ask(base, UPGRADE_QUESTION)
        assert upgraded["answered"], upgraded
        assert upgraded["citations"][0]["id"] == UPGRADE_ENTRY
        turns = httpx.get(f"{base}/conversations/{conversation}", timeout=10).json()["turns"]
        assert [turn["question"] for turn in turns] == [SAVE, LOAD]
    finally:
        compose.down()


def _scale_override(tmp: Path) -> Path:
    """Redis and nginx from Debian's packages (Docker Hub is out of reach), and an nginx site
    that is deploy/nginx.conf plus a header naming the replica that answered."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace(
        "listen 80;", "listen 80;\n    add_header X-Upstream $upstream_addr always;"
    )
    assert "X-Upstream" in site
    (tmp / "site.conf").write_text(site)
    override = {
        "services": {
            "redis": {
                "image": SERVICES_IMAGE,
                # The official image turns protected mode off; Debian's redis-server needs it said.
                "command": [
                    "redis-server",
                    "--appendonly",
                    "yes",
                    "--dir",
                    "/data",
                    "--protected-mode",
                    "no",
                ],
            },
            "nginx": {
                "image": SERVICES_IMAGE,
                "command": ["nginx", "-g", "daemon off;"],
                "volumes": [f"{tmp / 'site.conf'}:/etc/nginx/conf.d/default.conf:ro"],
            },
        }
    }
    path = tmp / "compose.scale-test.yml"
    path.write_text(yaml.safe_dump(override))
    return path


@pytest.fixture
def scaled(engine: Engine, tmp_path: Path) -> Iterator[tuple[str, Compose]]:
    port = free_port()
    compose = Compose(
        engine,
        f"dockfaq-scale-{port}",
        [ROOT / "docker-compose.yml", _scale_override(tmp_path)],
        {"DOCKFAQ_PUBLISH_SCALE": f"127.0.0.1:{port}", "DOCKFAQ_IMAGE": IMAGE},
    )
    try:
        compose("--profile", "scale", "up", "-d", "--no-build", "--scale", "replica=2", "nginx")
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, 120)
        yield base, compose
    finally:
        compose.down()


def test_the_scale_profile_shares_conversations_and_survives_a_killed_replica(
    engine: Engine, scaled: tuple[str, Compose]
) -> None:
    base, compose = scaled
    replicas = compose("--profile", "scale", "ps", "-q", "replica").split()
    assert len(replicas) == 2

    with httpx.Client(base_url=base, timeout=30) as client:
        first = client.post("/chat", json={"message": SAVE})
        conversation = first.json()["conversation_id"]
        upstreams = {first.headers["x-upstream"]}
        for _ in range(3):
            follow = client.post("/chat", json={"message": LOAD, "conversation_id": conversation})
            upstreams.add(follow.headers["x-upstream"])
            assert follow.json()["citations"][0]["topic"] == "save-load-export-import"
    assert len(upstreams) == 2, f"round robin reached both replicas: {upstreams}"

    results = load_with_a_kill(base, lambda: engine.docker("kill", replicas[0]), per_worker=50)
    failed = sum(code != 200 for code in results)
    print(f"{failed} of {len(results)} requests failed with a replica killed under load")
    assert len(results) == 400 and failed / len(results) < 0.01, (
        f"{failed} of {len(results)} failed"
    )

    # Nothing lost: the conversation, kept in Redis, goes on on the replica left.
    follow = _ask(base, "那怎么在另一台机器上导入？", conversation)
    assert follow["citations"][0]["topic"] == "save-load-export-import"
    turns = httpx.get(f"{base}/conversations/{conversation}", timeout=10).json()["turns"]
    assert len(turns) == 5

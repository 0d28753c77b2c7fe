"""Scale-out as the compose `scale` profile runs it, with real processes and no Docker:
two dockfaq replicas sharing Redis behind nginx (deploy/nginx.conf), one killed under load."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    CORPUS,
    ROOT,
    free_port,
    load_with_a_kill,
    server_env_for,
    spoofed_searches,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow


def _nginx_config(tmp: Path, replicas: list[str], port: int) -> Path:
    """deploy/nginx.conf with the replicas' loopback addresses and a local port."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"    server {r} max_fails=1 fail_timeout=5s;\n" for r in replicas)
    site = re.sub(r"    server replica:8000[^\n]*\n", servers, site)
    site = site.replace(
        "listen 80;", f"listen 127.0.0.1:{port};\n    add_header X-Upstream $upstream_addr always;"
    )
    config = tmp / "nginx.conf"
    config.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {tmp}/access.log;\n  client_body_temp_path {tmp};\n"
        f"  proxy_temp_path {tmp};\n{site}\n}}\n"
    )
    return config


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, real_index_dir: Path, redis_url: str
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    tmp = tmp_path_factory.mktemp("scale")
    env = {
        **server_env_for(tmp, CORPUS),
        "DOCKFAQ_REDIS_URL": redis_url,
        "DOCKFAQ_INDEX_DIR": str(real_index_dir),
        "DOCKFAQ_TRUSTED_PROXIES": "127.0.0.1",  # the compose profile trusts its nginx too
    }
    replicas = [start_server(env, tmp / f"replica{i}.log") for i in range(2)]
    nginx, base = _start_nginx(tmp, [base for _, base in replicas])
    yield base, [process for process, _ in replicas]
    nginx.terminate()
    nginx.wait(timeout=10)
    for process, _ in replicas:
        if process.poll() is None:
            stop_server(process)


def _start_nginx(tmp: Path, replicas: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    nginx_binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx_binary).exists(), "`make test` installs Debian's nginx"
    port = free_port()
    config = _nginx_config(tmp, [base.removeprefix("http://") for base in replicas], port)
    with (tmp / "nginx.out").open("wb") as out:
        nginx = subprocess.Popen(
            [nginx_binary, "-c", str(config), "-g", "daemon off;"], stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return nginx, base


def test_behind_nginx_a_client_cannot_pick_its_address(
    tmp_path: Path, real_index_dir: Path
) -> None:
    """nginx replaces X-Forwarded-For with the address it sees: the replica, trusting nginx,
    counts the real client, whatever the client wrote in the header."""
    env = {
        **server_env_for(tmp_path, CORPUS),
        "DOCKFAQ_INDEX_DIR": str(real_index_dir),
        "DOCKFAQ_TRUSTED_PROXIES": "127.0.0.1",
        "DOCKFAQ_RATE_LIMIT": "3/minute",
    }
    replica, replica_base = start_server(env, tmp_path / "replica.log")
    nginx, base = _start_nginx(tmp_path, [replica_base])
    try:
        codes = spoofed_searches(base, 5)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        stop_server(replica)
    assert codes == [200, 200, 200, 429, 429]


def test_conversation_continues_on_either_replica(cluster: tuple[str, list]) -> None:  # type: ignore[type-arg]
    base, _ = cluster
    with httpx.Client(base_url=base, timeout=30) as client:
        first = client.post("/chat", json={"message": "How do I save an image to a tar file?"})
        conversation = first.json()["conversation_id"]
        upstreams = {first.headers["x-upstream"]}
        for _ in range(3):
            follow = client.post(
                "/chat",
                json={
                    "message": "and how do I load it on the other machine?",
                    "conversation_id": conversation,
                },
            )
            upstreams.add(follow.headers["x-upstream"])
            assert follow.json()["citations"][0]["topic"] == "save-load-export-import"
    assert len(upstreams) == 2, "round robin reached both replicas"


def test_killing_a_replica_under_load_loses_almost_nothing(cluster: tuple[str, list]) -> None:  # type: ignore[type-arg]
    base, replicas = cluster
    with httpx.Client(base_url=base, timeout=30) as client:
        started = client.post("/chat", json={"message": "docker 怎么把镜像导出成文件"}).json()

    def kill() -> None:
        replicas[0].kill()  # SIGKILL
        replicas[0].wait(timeout=10)

    results = load_with_a_kill(base, kill, per_worker=60)
    failed = sum(code != 200 for code in results)
    assert len(results) == 480 and failed / len(results) < 0.01, (
        f"{failed} of {len(results)} failed"
    )
    with httpx.Client(base_url=base, timeout=30) as client:  # the conversation survived
        follow = client.post(
            "/chat",
            json={
                "message": "那怎么在另一台机器上导入？",
                "conversation_id": started["conversation_id"],
            },
        ).json()
    assert follow["citations"][0]["topic"] == "save-load-export-import"

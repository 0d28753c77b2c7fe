"""Growth with corpus size: synthetic corpora of N passages, built and served for real.

For each size: generate a corpus from the real entries (titles varied, questions sampled,
answer paragraphs sampled and shuffled; nothing is committed), run `dockfaq build` (time, size
on disk, flat or HNSW), start `dockfaq serve` (time to /readyz, RSS), ask the evaluation
questions one at a time (p50/p95), and, for an HNSW index, measure recall@10 against exact
search with the real query embeddings.

    .venv/bin/python bench/growth.py --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import Questions, post_json, run_load  # noqa: E402
from service import corpus  # noqa: E402

DOCKFAQ = str(ROOT / ".venv" / "bin" / "dockfaq")
VARIANTS = [
    "in practice",
    "step by step",
    "for beginners",
    "on Linux",
    "in CI",
    "explained",
    "common pitfalls",
    "quick reference",
    "with examples",
    "on a server",
]
VARIANTS_ZH = [
    "实践",
    "分步说明",
    "入门",
    "在 Linux 上",
    "在 CI 中",
    "详解",
    "常见坑",
    "速查",
    "附示例",
    "在服务器上",
]


def generate(size: int, target: Path, seed: int = 7) -> int:
    """Write ``size`` passages (``size // 2`` bilingual entries) under ``target``."""
    rng = random.Random(seed)
    entries = corpus.load(ROOT / "corpus")
    count = size // 2
    for n in range(count):
        base = entries[n % len(entries)]
        variant = n // len(entries)
        entry_id = f"{base.id}-v{n}"
        front = {
            "id": entry_id,
            "topic": base.topic,
            "title": {
                "en": f"{base.title['en']} ({VARIANTS[variant % len(VARIANTS)]} {variant})",
                "zh": f"{base.title['zh']}（{VARIANTS_ZH[variant % len(VARIANTS_ZH)]} {variant}）",
            },
            "questions": {
                language: rng.sample(list(base.questions[language]), 1) for language in ("en", "zh")
            },
            "sources": list(base.sources),
            "tags": list(base.tags),
        }
        answers = {language: _shuffle(base.answers[language], rng) for language in ("en", "zh")}
        text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n"
        text += f"## en\n{answers['en']}\n\n## zh\n{answers['zh']}\n"
        path = target / base.topic / f"{entry_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return count * 2


def _shuffle(answer: str, rng: random.Random) -> str:
    """A paraphrase by recombination: some of the answer's paragraphs, in another order."""
    paragraphs = [p for p in answer.split("\n\n") if p.strip()]
    keep = rng.sample(paragraphs, max(1, min(len(paragraphs), rng.randint(2, 3))))
    return "\n\n".join(keep)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _questions() -> list[str]:
    lines = (ROOT / "tests" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["q"] for line in lines if line.strip()]


def recall_at_10(index_dir: Path, questions: list[str]) -> dict[str, float] | None:
    """recall@10 of the saved HNSW index against exact search over the same vectors, at the
    server's efSearch, with the real query embeddings of 500 evaluation questions.

    ``by_score`` is ann-benchmarks' definition: a result counts when its cosine is within
    1e-3 of the exact 10th best. It is the one that means something here: a synthetic corpus
    repeats its questions word for word, and identical texts have identical vectors, so the
    exact top 10 is often a tie among copies, broken by position (``by_id`` counts the same
    rows, and is low on ties alone).
    """
    import faiss

    from service.embedding import OnnxEmbedder
    from service.scoring import SCORING

    graph = faiss.read_index(str(index_dir / "dense.faiss"))
    if not hasattr(graph, "hnsw"):
        return None
    vectors = graph.reconstruct_n(0, graph.ntotal)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    graph.hnsw.efSearch = SCORING.hnsw_ef_search
    queries = OnnxEmbedder(index_dir).encode(questions[:500])  # the encoder that made it
    truth_scores, truth = exact.search(queries, 10)
    scores, found = graph.search(queries, 10)
    same = sum(len(set(a) & set(b)) for a, b in zip(found, truth, strict=True))
    close = int((scores >= truth_scores[:, -1:] - 1e-3).sum())
    return {"by_score": round(close / truth.size, 4), "by_id": round(same / truth.size, 4)}


def measure(size: int, work: Path, duration: float, derive_above: int) -> dict[str, Any]:
    corpus_dir, index_dir, data_dir = work / "corpus", work / "index", work / "data"
    passages = generate(size, corpus_dir)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DOCKFAQ_CORPUS_DIR": str(corpus_dir),
        "DOCKFAQ_INDEX_DIR": str(index_dir),
        "DOCKFAQ_DATA_DIR": str(data_dir),
    }
    started = time.perf_counter()
    derived = size > derive_above
    if derived:
        build_derived(corpus_dir, index_dir)
    else:
        subprocess.run([DOCKFAQ, "build"], env=env, check=True, stdout=subprocess.DEVNULL)
    build_s = time.perf_counter() - started
    manifest = json.loads((index_dir / "manifest.json").read_text())
    port = 18000 + size % 1000
    log = (work / "serve.log").open("wb")
    started = time.perf_counter()
    server = subprocess.Popen(
        [DOCKFAQ, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"server exited: see {work / 'serve.log'}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        ready_s = time.perf_counter() - started
        questions = _questions()
        asking = Questions(questions, vary=True)  # distinct texts: no answer from a cache
        result = asyncio.run(
            run_load(base, post_json("/chat", "message"), asking, 1, duration, warmup=2)
        )
        rss = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "passages": passages,
        "vectors": manifest["vectors"],
        "passage_vectors": "derived" if derived else "embedded",
        "dense_index": manifest.get("dense_index", "flat"),
        "build_s": round(build_s, 1),
        "index_mb": round(_du(index_dir) / 2**20, 1),
        "ready_s": round(ready_s, 2),
        "rss_mb": round(rss, 1),
        "p50_ms": result.p50_ms,
        "p95_ms": result.p95_ms,
        "rps_c1": result.rps,
        "errors": result.errors,
        "recall_at_10": recall_at_10(index_dir, questions),
    }


class DerivedEmbedder:
    """Passage vectors for corpora too large to embed here (200 000 texts at 15-25 a second):
    a synthetic text is embedded as the real text it was made from, its title's variant
    marker removed, plus a little noise (cosine about 0.97 with it), so that distinct texts
    get distinct vectors, clustered as real ones are (the build embeds each distinct text
    once, so identical texts share a vector, as in a real build). The build then embeds only
    the originals (about 32 000 at 100 000 passages, not 200 000 texts); the index and serving
    are the real ones, and questions are embedded by the index's real (int8) encoder."""

    def __init__(self, inner: Any, seed: int = 11) -> None:
        self.inner = inner
        self.name, self.dimension = inner.name, inner.dimension
        self.cache: dict[str, Any] = {}
        self.rng = np.random.default_rng(seed)
        variants = "|".join(re.escape(v) for v in VARIANTS)
        variants_zh = "|".join(re.escape(v) for v in VARIANTS_ZH)
        self.marker = re.compile(rf" \((?:{variants}) \d+\)|（(?:{variants_zh}) \d+）")

    def encode(self, texts: list[str]) -> Any:
        originals = [self.marker.sub("", t) for t in texts]
        missing = sorted({o for o in originals if o not in self.cache}, key=len)
        for start in range(0, len(missing), 32):
            chunk = missing[start : start + 32]
            self.cache.update(zip(chunk, self.inner.encode(chunk), strict=True))
        vectors = np.stack([self.cache[o] for o in originals]).astype(np.float32)
        vectors += self.rng.normal(0.0, 0.0125, vectors.shape).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build_derived(corpus_dir: Path, index_dir: Path) -> None:
    """`dockfaq build`'s steps, with the passage vectors of :class:`DerivedEmbedder`."""
    from service import engine, onnx_export
    from service.embedding import SentenceTransformerEmbedder

    passages = corpus.passages(corpus.load(corpus_dir))
    with tempfile.TemporaryDirectory(prefix="dockfaq-growth-encoder-") as workdir:
        calibration = onnx_export.calibration_texts(passages)
        encoder = onnx_export.prepare(SentenceTransformerEmbedder(), Path(workdir), calibration)
        # An exported encoder is kept as it is: the index carries it, and embeds with the
        # derived vectors.
        engine.build_index(corpus_dir, index_dir, DerivedEmbedder(encoder.model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of questions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "growth.json")
    parser.add_argument(
        "--derive-above",
        type=int,
        default=50_000,
        help="above this many passages, derive passage vectors instead of embedding them all "
        "(see DerivedEmbedder); the build time is then not a real build's",
    )
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        work = Path(tempfile.mkdtemp(prefix=f"dockfaq-growth-{size}-"))
        try:
            row = measure(size, work, args.duration, args.derive_above)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    header = (
        "passages",
        "vectors",
        "index",
        "build s",
        "index MB",
        "ready s",
        "RSS MB",
        "p50 ms",
        "p95 ms",
        "recall@10 (score / id)",
    )
    print(" | ".join(header))
    for r in rows:
        print(
            " | ".join(
                str(v)
                for v in (
                    r["passages"],
                    r["vectors"],
                    r["dense_index"],
                    r["build_s"],
                    r["index_mb"],
                    r["ready_s"],
                    r["rss_mb"],
                    r["p50_ms"],
                    r["p95_ms"],
                    _recall(r["recall_at_10"]),
                )
            )
        )


def _recall(recall: dict[str, float] | None) -> str:
    return f"{recall['by_score']} / {recall['by_id']}" if recall else "-"


if __name__ == "__main__":
    main()

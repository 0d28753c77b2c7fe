"""Speed features that must not change answers: micro-batching, caches, HNSW."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service import store
from service.batching import BatchingEmbedder
from service.embedding import MAX_GROUP, length_groups
from service.retrieval import Retriever
from service.scoring import SCORING
from service.settings import Settings
from service.web import create_app
from tests.conftest import CORPUS, FakeEmbedder

QUESTIONS = [
    "why does my container exit immediately",
    "docker save vs docker export",
    "run a container as a non-root user",
    "what is the difference between an image and a container",
    "how do I push an image to a private registry",
    "build my own base image from scratch",
    "exec format error when the container starts",
    "remove dangling images",
]


class SlowRecorder(FakeEmbedder):
    """The fake model, slowed down so requests pile up behind a batch, recording batch sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        time.sleep(0.05)
        return super().encode(texts)


def test_concurrent_requests_are_batched_with_identical_vectors() -> None:
    inner = SlowRecorder()
    batcher = BatchingEmbedder(inner, max_batch=16, max_wait_ms=5)
    questions = [f"{q} #{n}" for n in range(4) for q in QUESTIONS]  # 32 distinct
    with ThreadPoolExecutor(max_workers=32) as pool:
        vectors = list(pool.map(lambda q: batcher.encode([q]), questions))
    for question, vector in zip(questions, vectors, strict=True):
        assert np.array_equal(vector, FakeEmbedder().encode([question]))
    assert sum(inner.calls) == 32 and max(inner.calls) <= 16
    assert len(inner.calls) < 32 / 2  # most calls carried several questions
    assert (batcher.batches, batcher.texts) == (len(inner.calls), 32)
    batcher.close()


def test_a_lone_request_does_not_wait_for_a_batch() -> None:
    inner = SlowRecorder()
    batcher = BatchingEmbedder(inner, max_batch=16, max_wait_ms=60_000)  # a minute-long window
    done = threading.Event()
    threading.Thread(target=lambda: (batcher.encode(["alone"]), done.set()), daemon=True).start()
    assert done.wait(timeout=30), "a single request waited for the batch window"
    assert inner.calls == [1]
    batcher.close()


def test_a_failing_model_fails_every_waiting_caller_and_the_worker_survives() -> None:
    class Broken(FakeEmbedder):
        fail = True

        def encode(self, texts: list[str]) -> np.ndarray:
            if self.fail:
                raise RuntimeError("model exploded")
            return super().encode(texts)

    inner = Broken()
    batcher = BatchingEmbedder(inner, max_batch=16, max_wait_ms=2)
    with pytest.raises(RuntimeError, match="model exploded"):
        batcher.encode(["x"])
    inner.fail = False
    assert batcher.encode(["x"]).shape == (1, inner.dimension)
    big = [f"text {n}" for n in range(40)]  # over max_batch: embedded directly, in order
    assert np.array_equal(batcher.encode(big), FakeEmbedder().encode(big))
    batcher.close()


@pytest.mark.slow
def test_batched_served_encoder_matches_one_by_one(served_embedder) -> None:  # type: ignore[no-untyped-def]
    """The int8 encoder too: its quantisation ranges are fixed, so a question's vector (and
    answer) does not depend on what else the server is answering."""
    assert served_embedder.precision == "int8"
    batcher = BatchingEmbedder(served_embedder, max_batch=16, max_wait_ms=5)
    questions = [f"{q} ({n})" for n in range(3) for q in QUESTIONS]
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        batched = list(pool.map(lambda q: batcher.encode([q]), questions))
    for question, vector in zip(questions, batched, strict=True):
        alone = served_embedder.encode([question])
        assert np.allclose(vector, alone, atol=1e-5), question
    assert batcher.batches < len(questions)
    batcher.close()


def test_length_groups_split_a_batch_where_padding_costs_more_than_a_call() -> None:
    lengths = np.array([9, 240, 10, 12, 11, 41, 40, 12])
    groups = length_groups(lengths)
    rows = np.concatenate(groups)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # every row once
    assert [sorted(lengths[g].tolist()) for g in groups] == [[9, 10, 11, 12, 12], [40, 41], [240]]
    # Equal lengths: one call. Groups stay under the cap for long lists (index builds).
    assert len(length_groups(np.full(16, 20))) == 1
    assert max(len(g) for g in length_groups(np.full(1000, 20))) <= MAX_GROUP
    # Padding a short text to a slightly longer one is cheaper than a call of its own.
    assert len(length_groups(np.array([12, 14]))) == 1


@pytest.mark.slow
def test_a_pasted_log_does_not_pad_the_short_questions_in_its_batch(
    served_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    log = "docker run -d myapp\n" + "\n".join(
        f"2026-11-30T10:{n:02d}:00Z ERROR worker {n} exited with code 137 (OOMKilled)"
        for n in range(40)
    )
    texts = [*QUESTIONS[:5], f"my container exits, here is the log: {log}", *QUESTIONS[5:]]
    alone = np.vstack([served_embedder.encode([t]) for t in texts])
    widths: list[tuple[int, int]] = []
    session = served_embedder._session

    class Recording:
        def run(self, outputs: list[str], feed: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
            widths.append(feed["input_ids"].shape)
            return session.run(outputs, feed)

    monkeypatch.setattr(served_embedder, "_session", Recording())
    together = served_embedder.encode(texts)
    assert np.allclose(together, alone, atol=1e-6)  # in the caller's order
    assert len(widths) == 2
    (short_rows, short_width), (long_rows, long_width) = sorted(widths, key=lambda s: s[1])
    assert (short_rows, long_rows) == (len(QUESTIONS), 1)
    assert short_width < 20 < long_width


def _metric(client: TestClient, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_answer_cache_hits_repeats_and_is_emptied_by_a_reload(
    tmp_path: Path, fake_index_dir: Path
) -> None:
    corpus_dir, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(CORPUS, corpus_dir)
    shutil.copytree(fake_index_dir, index_dir)
    embedder = FakeEmbedder()
    retriever = Retriever(store.load(index_dir, embedder), embedder, cache_size=64)
    settings = Settings(
        corpus_dir=corpus_dir,
        index_dir=index_dir,
        data_dir=tmp_path / "data",
        embedding_model="fake-hash",
        confidence_threshold=0.3,
        admin_key="root-key-0123456789",
    )
    question = {"message": "docker save vs docker export"}
    with TestClient(create_app(settings, retriever=retriever)) as client:
        first = client.post("/chat", json=question).json()
        again = client.post("/chat", json={"message": "  docker save   vs docker export "}).json()
        assert again["answer"] == first["answer"] and again["message_id"] != first["message_id"]
        assert _metric(client, "dockfaq_cache_lookups_total", cache="answer", result="hit") == 1
        # A follow-up in a conversation is never served from the cache.
        follow = {"message": "and import?", "conversation_id": first["conversation_id"]}
        client.post("/chat", json=follow)
        assert _metric(client, "dockfaq_cache_lookups_total", cache="answer", result="hit") == 1

        entry = corpus_dir / "save-load-export-import" / "save-vs-export.md"
        entry.write_text(entry.read_text().replace("## en\n", "## en\nFreshly reloaded.\n", 1))
        reloaded = client.post(
            "/admin/reload", headers={"Authorization": "Bearer root-key-0123456789"}
        )
        assert reloaded.status_code == 200, reloaded.text
        after = client.post("/chat", json=question).json()
        assert after["index_version"] != first["index_version"]
        assert after["citations"][0]["id"] == "save-vs-export"
        assert after["answer"].startswith("Freshly reloaded.")  # not the cached old answer
        assert _metric(client, "dockfaq_cache_lookups_total", cache="answer", result="hit") == 1


def test_metrics_count_the_micro_batches(tmp_path: Path, fake_index_dir: Path) -> None:
    """dockfaq_embedding_texts_total / _batches_total is the mean batch (bench/run.py reads it)."""
    inner = SlowRecorder()
    batcher = BatchingEmbedder(inner, max_batch=16, max_wait_ms=5)
    retriever = Retriever(store.load(fake_index_dir, inner), batcher)
    settings = Settings(
        index_dir=fake_index_dir, data_dir=tmp_path / "data", embedding_model="fake-hash"
    )
    with TestClient(create_app(settings, retriever=retriever)) as client:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda q: client.post("/chat", json={"message": q}), QUESTIONS))
        texts = _metric(client, "dockfaq_embedding_texts_total")
        batches = _metric(client, "dockfaq_embedding_batches_total")
    assert texts == sum(inner.calls) == len(QUESTIONS)
    assert batches == len(inner.calls) < len(QUESTIONS)  # some questions shared a model call
    batcher.close()


def test_query_vectors_are_cached_per_retriever(fake_index_dir: Path) -> None:
    inner = SlowRecorder()
    retriever = Retriever(store.load(fake_index_dir, inner), inner, cache_size=8)
    first = retriever.search("docker save vs docker export")
    second = retriever.search("docker save vs docker export")
    assert first == second and inner.calls == [1]
    assert (retriever.vector_cache.hits, retriever.vector_cache.misses) == (1, 1)


def _clustered(n: int, dimension: int, seed: int) -> np.ndarray:
    """Unit vectors in clusters, like sentence embeddings of a topical corpus."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 50, 1), dimension))
    points = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.normal(size=(n, dimension))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


@pytest.mark.slow
def test_hnsw_recall_at_10_against_flat() -> None:
    vectors = _clustered(30_000, 384, seed=1)
    queries = _clustered(300, 384, seed=2)
    flat = store.dense_index(vectors, hnsw_above=len(vectors))
    hnsw = store.dense_index(vectors, hnsw_above=0)
    assert type(flat).__name__ == "IndexFlatIP" and type(hnsw).__name__ == "IndexHNSWFlat"
    hnsw.hnsw.efSearch = SCORING.hnsw_ef_search
    _, exact = flat.search(queries, 10)
    _, approximate = hnsw.search(queries, 10)
    found = sum(len(set(a) & set(e)) for a, e in zip(approximate, exact, strict=True))
    assert found / exact.size >= 0.98


def test_an_index_over_the_threshold_is_hnsw_and_ranks_like_flat(tmp_path: Path) -> None:
    from service import corpus

    entries = corpus.load(CORPUS)
    passages = corpus.passages(entries)
    flat = Retriever(store.build(passages, FakeEmbedder(), "x"), FakeEmbedder())
    graph_index = store.build(passages, FakeEmbedder(), "x", hnsw_above=0)
    assert graph_index.manifest.dense_index == "hnsw"
    store.save(graph_index, tmp_path / "index")
    graph = Retriever(store.load(tmp_path / "index", FakeEmbedder()), FakeEmbedder())
    same = sum(
        [h.entry_id for h in flat.search(q)] == [h.entry_id for h in graph.search(q)]
        for q in QUESTIONS
    )
    assert same >= len(QUESTIONS) - 1


@pytest.mark.slow
def test_the_exported_encoder_matches_the_model(real_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from service.embedding import OnnxEmbedder

    assert real_embedder.export_onnx(tmp_path)
    onnx = OnnxEmbedder(tmp_path)
    assert (onnx.name, onnx.dimension, onnx.precision) == (
        real_embedder.name,
        real_embedder.dimension,
        "float32",
    )
    questions = [f"{q} {n}" for n in range(3) for q in QUESTIONS] + ["docker 镜像和容器的区别"]
    together = onnx.encode(questions)
    assert np.allclose(together, real_embedder.encode(questions), atol=1e-5)
    for question, vector in zip(questions, together, strict=True):  # padding changes nothing
        assert np.allclose(onnx.encode([question])[0], vector, atol=1e-5)


@pytest.mark.slow
def test_the_index_is_embedded_by_the_int8_encoder_it_carries(
    real_index_dir: Path, real_embedder: Any, served_embedder: Any
) -> None:
    from service.embedding import onnx_available

    manifest = store.read_manifest(real_index_dir)
    assert manifest["encoder"] == "onnx" and onnx_available(real_index_dir)
    assert manifest["encoder_precision"] == served_embedder.precision == "int8"
    # The passages' vectors are the carried encoder's, so questions and passages match.
    index = store.load(real_index_dir, served_embedder)
    texts = [view for passage in index.passages[:6] for view in store.views(passage)]
    stored = index.vectors.reconstruct_n(0, len(texts))
    assert np.allclose(stored, served_embedder.encode(texts), atol=1e-4)
    # Close to the float model's, not equal to it.
    questions = [f"{q} {n}" for n in range(3) for q in QUESTIONS]
    cosines = (served_embedder.encode(questions) * real_embedder.encode(questions)).sum(axis=1)
    assert cosines.min() > 0.97 and cosines.max() < 0.99999


@pytest.mark.slow
def test_a_rebuild_by_the_server_keeps_the_encoder_it_serves_with(
    tmp_path: Path, real_index_dir: Path, served_embedder: Any
) -> None:
    """/admin/reload in process rebuilds with the served (batched, exported) encoder: the new
    index carries the same encoder files and its vectors are that encoder's."""
    from service import engine
    from service.embedding import ONNX_FILES

    batched = BatchingEmbedder(served_embedder, 16, 2)
    try:
        built = engine.build_index(CORPUS, tmp_path / "index", batched)
    finally:
        batched.close()
    assert built.manifest.encoder == "onnx" and built.manifest.encoder_precision == "int8"
    assert built.version == store.read_manifest(real_index_dir)["index_version"]
    for name in ONNX_FILES:
        assert (tmp_path / "index" / name).read_bytes() == (real_index_dir / name).read_bytes()
    torch = engine.build_index(CORPUS, tmp_path / "plain", FakeEmbedder(), encoder="torch")
    assert torch.manifest.encoder is None
    assert not any((tmp_path / "plain" / name).exists() for name in ONNX_FILES)


@pytest.mark.slow
def test_without_pytorch_a_rebuild_embeds_with_the_index_encoder(
    tmp_path: Path, real_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The container image has no PyTorch: a new corpus is still built, by the encoder the
    current index carries; with no such encoder, the error says what is missing."""
    import importlib.util

    from service import engine
    from service.embedding import ONNX_FILES, OnnxEmbedder
    from service.errors import ConfigError
    from tests.conftest import write_entry

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "sentence_transformers" else find_spec(name, *args),
    )
    index = tmp_path / "index"
    shutil.copytree(real_index_dir, index)
    corpus_dir = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus_dir)
    write_entry(corpus_dir, id="quux-layer-compressor", question_en="What is quux?")
    settings = Settings(index_dir=index, corpus_dir=corpus_dir)
    assert engine.stale_reason(settings)

    model = engine.embedder(settings)
    assert isinstance(model, OnnxEmbedder)
    built = engine.build(settings, model)
    assert engine.stale_reason(settings) is None
    assert "quux-layer-compressor" in {p.entry_id for p in built.passages}
    for name in ONNX_FILES:
        assert (index / name).read_bytes() == (real_index_dir / name).read_bytes()

    with pytest.raises(ConfigError, match="PyTorch"):
        engine.embedder(settings.model_copy(update={"index_dir": tmp_path / "none"}))
    with pytest.raises(ConfigError, match="PyTorch"):  # an encoder of another model
        engine.embedder(settings.model_copy(update={"embedding_model": "other/model"}))


@pytest.mark.slow
def test_serving_and_eval_use_the_onnx_encoder_unless_told_not_to(real_index_dir: Path) -> None:
    from service import engine
    from service.embedding import OnnxEmbedder, SentenceTransformerEmbedder

    settings = Settings(index_dir=real_index_dir)
    served = engine.open_retriever(settings, serving=True)
    assert isinstance(served.embedder, BatchingEmbedder)
    assert isinstance(served.embedder.inner, OnnxEmbedder)
    plain = engine.open_retriever(settings.model_copy(update={"encoder": "torch"}), serving=True)
    assert isinstance(plain.embedder, BatchingEmbedder)
    assert isinstance(plain.embedder.inner, SentenceTransformerEmbedder)
    for question in QUESTIONS:  # float questions against int8 passages: the same answers
        assert served.search(question)[0].entry_id == plain.search(question)[0].entry_id
    # `dockfaq eval` and `ask` measure what is served.
    assert isinstance(engine.open_retriever(settings).embedder, OnnxEmbedder)
    for retriever in (served, plain):
        retriever.embedder.close()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_the_encoder_sends_no_telemetry(real_index_dir: Path, tmp_path: Path) -> None:
    """ONNX Runtime's telemetry writes a device id under $HOME/.cache/Microsoft before any
    upload: with dockfaq's default there is none, and the process exits at once."""
    script = (
        "import sys; from service.embedding import OnnxEmbedder; "
        "OnnxEmbedder(__import__('pathlib').Path(sys.argv[1])).encode(['docker save'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", script, str(real_index_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "telemetry" not in done.stderr
    assert not (tmp_path / ".cache" / "Microsoft").exists()


def test_no_bench_script_shadows_a_standard_module() -> None:
    """bench/ scripts run with bench/ first on sys.path: a bench/profile.py once replaced the
    standard ``profile`` module, and the naive baseline failed at import (cProfile needs it)."""
    bench = Path(__file__).resolve().parent.parent / "bench"
    names = {path.stem for path in bench.glob("*.py")} | {
        p.name for p in bench.iterdir() if p.is_dir()
    }
    assert names & set(sys.stdlib_module_names) == set()

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service import engine, store
from service.retrieval import Retriever, _per_entry, _rrf
from service.scoring import SCORING
from tests.conftest import FakeEmbedder, write_entry


def test_results_are_grouped_by_entry(fake_retriever: Retriever) -> None:
    hits = fake_retriever.search("docker save docker load docker export tar image", k=10)
    ids = [h.entry_id for h in hits]
    assert len(ids) == len(set(ids)) == 10


def test_scores_are_ordered_and_confidence_bounded(fake_retriever: Retriever) -> None:
    hits = fake_retriever.search("why does my container exit immediately", k=5)
    assert [h.fused for h in hits] == sorted((h.fused for h in hits), reverse=True)
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)


def test_topic_filter(fake_retriever: Retriever) -> None:
    hits = fake_retriever.search("docker save", k=5, topic="non-root")
    assert hits and all(h.passage.topic == "non-root" for h in hits)


def test_passage_follows_language(fake_retriever: Retriever) -> None:
    assert fake_retriever.search("镜像和容器的区别", k=1)[0].passage.language == "zh"
    assert fake_retriever.search("镜像和容器的区别", k=1, language="en")[0].passage.language == "en"


def test_chinese_is_found_lexically(fake_retriever: Retriever) -> None:
    # The fake embedder knows nothing; BM25 over jieba tokens must carry Chinese questions.
    assert (
        fake_retriever.search("docker中镜像和容器的区别", k=1)[0].entry_id == "image-vs-container"
    )


def test_off_topic_has_no_confidence(fake_retriever: Retriever) -> None:
    hit = fake_retriever.search("东南亚BCD功率集成电路市场规模", k=1)[0]
    # Words inside its compounds may meet the corpus (集成电路 -> 集成), its subject does not.
    assert hit.exact == 0.0 and hit.coverage < 0.2 and hit.confidence < 0.2


def _twins(tmp_path: Path) -> Retriever:
    """Two entries with the same words, told apart only by a technical term."""
    corpus_dir = tmp_path / "corpus"
    common = "The container stops when it starts because the program fails. Check the logs."
    write_entry(
        corpus_dir,
        id="arch",
        topic="container-exits",
        title_en="Container fails",
        answer_en=f"{common} An `exec format error` means a wrong CPU architecture.",
    )
    write_entry(
        corpus_dir,
        id="user",
        topic="container-exits",
        title_en="Container fails",
        answer_en=f"{common} Run it with `--user 1000` and check the exit code 137.",
    )
    embedder = FakeEmbedder()
    engine.build_index(corpus_dir, tmp_path / "index", embedder)
    return Retriever(store.load(tmp_path / "index", embedder), embedder)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("container fails: exec format error", "arch"),
        ("container fails with --user", "user"),
        ("container fails, Exited (137)", "user"),
    ],
)
def test_exact_terms_decide_between_similar_entries(
    tmp_path: Path, question: str, expected: str
) -> None:
    hits = _twins(tmp_path).search(question, k=2)
    assert hits[0].entry_id == expected
    assert hits[0].exact > hits[1].exact


def test_rrf_rewards_agreement() -> None:
    # Entry 1 is second in both signals; 0 and 2 are each first in one and unfound in the other.
    a = np.array([0.9, 0.8, 0.0, 0.0])
    b = np.array([0.0, 0.7, 0.9, 0.0])
    fused = _rrf([a, b])
    assert fused[1] > fused[0] and fused[1] > fused[2]
    assert fused[1] == pytest.approx(2 / (SCORING.rrf_k + 2)) and fused[0] == pytest.approx(
        1 / (SCORING.rrf_k + 1)
    )
    assert fused[3] == 0.0  # no signal found it


def test_rrf_fusion_mode_ranks_entries(fake_index_dir: Path) -> None:
    embedder = FakeEmbedder()
    retriever = Retriever(store.load(fake_index_dir, embedder), embedder, fusion="rrf")
    hits = retriever.search("docker中镜像和容器的区别", k=3)
    assert len({h.entry_id for h in hits}) == 3
    assert "image-vs-container" in [h.entry_id for h in hits]


def test_per_entry_signals_match_a_plain_loop() -> None:
    rng = np.random.default_rng(7)
    for size in (1, 5, 256):
        n = 12
        entries = rng.integers(0, n, size)
        sims = np.sort(rng.random(size).astype(np.float32))[::-1]  # best first, as FAISS gives
        is_answer = rng.random(size) < 0.3
        best, several, answers = _per_entry(entries, sims, is_answer, n)
        for entry in range(n):
            mine = [float(s) for e, s in zip(entries, sims, strict=True) if e == entry]
            assert best[entry] == (mine[0] if mine else 0.0)
            top = (mine + [float(sims[-1])] * SCORING.views_averaged)[: SCORING.views_averaged]
            assert several[entry] == pytest.approx(sum(top) / SCORING.views_averaged, abs=1e-6)
            mine_answers = [
                float(s)
                for e, s, a in zip(entries, sims, is_answer, strict=True)
                if e == entry and a
            ]
            assert answers[entry] == (mine_answers[0] if mine_answers else 0.0)

"""Hybrid retrieval over entries: dense (FAISS) + lexical (BM25) + exact terms, fused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from service import lexicon, text
from service.cache import LRUCache
from service.corpus import Passage
from service.embedding import Embedder
from service.lexicon import Lexicon
from service.store import Index

Fusion = Literal["weighted", "rrf"]
# "dense" and "bm25" rank by one signal alone: the baselines `dockfaq eval` compares against.
Mode = Literal["hybrid", "dense", "bm25"]

# Confidence is scaled by this when a question names nothing of Docker (see text.about_docker).
OFF_DOMAIN_FACTOR = 0.8
# Cosines of all-MiniLM-L6-v2 between a question and an unrelated Docker text sit near 0.2;
# paraphrases of the same question score 0.6 and above. For confidence they are mapped linearly
# onto 0..1 between these bounds; for ranking the ceiling is higher, so that close paraphrases
# (0.75 vs 0.9) still differ. Weights and bounds were chosen with `dockfaq eval`.
DENSE_FLOOR, DENSE_CEILING = 0.25, 0.70
RANK_CEILING = 0.90
WEIGHTS = {"dense": 0.55, "bm25": 0.35, "exact": 0.1}
RRF_K = 60
DENSE_CANDIDATES = 512
# How many candidates HNSW explores (at least the number asked for). With the graph of
# store.HNSW_M, 1024 gives recall@10 of 0.99 against exact search on the 100k corpus of
# bench/growth.py (512: 0.97), in about 2 ms a question on one core.
HNSW_EF_SEARCH = 1024


@dataclass(frozen=True)
class Hit:
    """One entry found for a query, with the passage in the wanted language."""

    entry_id: str
    passage: Passage
    score: float  # the fused score that ranks hits
    confidence: float  # 0..1: how surely this entry answers the question
    dense: float
    bm25: float
    exact: float
    coverage: float


@dataclass(frozen=True)
class Query:
    """A question prepared once for every signal."""

    raw: str
    language: str  # the language wanted for the passages
    chinese: bool  # the question itself is written in Chinese
    tokens: list[str]
    terms: set[str]
    readable: str  # what the English embedding model can read of the question
    readable_share: float  # how much of the question that is (0..1)
    about_docker: bool


class Retriever:
    """Ranks corpus entries for a question; one entry is one result, whatever its passages."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        fusion: Fusion = "weighted",
        cache_size: int = 0,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.fusion = fusion
        # Query vectors of this index's model, by the text the model reads; it lives and dies
        # with this Retriever, so a reload (a new index version) starts it empty.
        self.vector_cache: LRUCache[np.ndarray] = LRUCache(cache_size)
        self._candidates = min(index.vectors.ntotal, DENSE_CANDIDATES)
        if hasattr(index.vectors, "hnsw"):
            index.vectors.hnsw.efSearch = max(HNSW_EF_SEARCH, self._candidates)
        self.entry_ids: list[str] = lexicon.entry_ids(index.passages)
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self._passage_entry = np.array([position[p.entry_id] for p in index.passages])
        self._vector_entry = self._passage_entry[index.vector_passages]
        self._passages: dict[tuple[str, str], Passage] = {
            (p.entry_id, p.language): p for p in index.passages
        }
        self.topics = {p.entry_id: p.topic for p in index.passages}
        self._by_topic = {
            topic: np.array([i for i, e in enumerate(self.entry_ids) if self.topics[e] == topic])
            for topic in set(self.topics.values())
        }
        # A word the corpus never uses weighs like a typical word: it may be chatter or off-topic.
        self._unknown_idf = float(np.median(index.words.idf)) if len(index.words) else 1.0

    @property
    def version(self) -> str:
        return self.index.version

    def warm_up(self) -> None:
        """Load what loads on first use (jieba's dictionary: about a second; the model's first
        run) before the server says it is ready, so no user waits for it."""
        for question in ("docker 镜像和容器的区别", "docker image vs container"):
            self.search(question)
        self.vector_cache.clear()
        self.vector_cache.hits = self.vector_cache.misses = 0

    def prepare(self, question: str, language: str | None = None) -> Query:
        technical = text.terms(question)
        detected = text.detect_language(question)
        chinese = detected == "zh"
        tokens = list(dict.fromkeys(text.tokenize(question)))
        readable, share = text.translate(question) if chinese else (question, 1.0)
        return Query(
            raw=question,
            language=language or detected,
            chinese=chinese,
            tokens=tokens,
            terms=technical | {p for p in text.phrases(question) if p in self.index.terms},
            readable=readable,
            readable_share=share,
            about_docker=text.about_docker(tokens, technical),
        )

    def search(
        self,
        question: str,
        k: int = 3,
        topic: str | None = None,
        language: str | None = None,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """The ``k`` best entries for ``question``, best first."""
        query = self.prepare(question, language)
        dense = self._dense(query) if mode != "bm25" else np.zeros(len(self.entry_ids))
        bm25 = self._bm25(query) if mode != "dense" else np.zeros(len(self.entry_ids))
        # Inverted lists (item -> entries holding it): overlap costs what the question names,
        # not what the corpus holds.
        exact = self._overlap(query.terms, self.index.terms)
        coverage = self._overlap(set(query.tokens), self.index.words)
        if mode == "dense":
            fused, confidence = dense, _calibrate(dense)
        elif mode == "bm25":
            fused, confidence = bm25, coverage
        else:
            fused = self._fuse(query, dense, bm25, exact)
            confidence = self._confidence(query, dense, coverage, exact)
        order = self._top(fused, confidence, k, topic)
        return [
            Hit(
                entry_id=self.entry_ids[i],
                passage=self.passage(self.entry_ids[i], query.language),
                score=round(float(fused[i]), 4),
                confidence=round(float(confidence[i]), 4),
                dense=float(dense[i]),
                bm25=float(bm25[i]),
                exact=float(exact[i]),
                coverage=float(coverage[i]),
            )
            for i in order
        ]

    def _fuse(
        self, query: Query, dense: np.ndarray, bm25: np.ndarray, exact: np.ndarray
    ) -> np.ndarray:
        weights = self._weights(query)
        if self.fusion == "rrf":
            return _rrf([s for s, w in zip((dense, bm25, exact), weights, strict=True) if w > 0])
        relative_bm25 = bm25 / bm25.max() if bm25.max() > 0 else bm25
        scaled = _calibrate(dense, ceiling=RANK_CEILING)
        return weights[0] * scaled + weights[1] * relative_bm25 + weights[2] * exact

    def passage(self, entry_id: str, language: str) -> Passage:
        return self._passages[(entry_id, language)]

    def _dense(self, query: Query) -> np.ndarray:
        scores = np.zeros(len(self.entry_ids), dtype=np.float32)
        # The model reads English only (Chinese characters become [UNK]): it gets the glossary's
        # English rendering of a Chinese question.
        if not query.readable or not query.tokens or not query.readable_share:
            return scores
        vector = self.vector_cache.get(query.readable)
        if vector is None:
            vector = self.embedder.encode([query.readable])
            self.vector_cache.put(query.readable, vector)
        sims, rows = self.index.vectors.search(vector, self._candidates)
        valid = rows[0] >= 0
        np.maximum.at(scores, self._vector_entry[rows[0][valid]], sims[0][valid])
        return scores

    def _bm25(self, query: Query) -> np.ndarray:
        scores = np.zeros(len(self.entry_ids), dtype=np.float32)
        known = [t for t in query.tokens if t in self.index.bm25.vocab_dict]
        if known:
            per_passage = self.index.bm25.get_scores(known)
            np.maximum.at(scores, self._passage_entry, per_passage)
        return scores

    def _top(
        self, fused: np.ndarray, confidence: np.ndarray, k: int, topic: str | None
    ) -> list[int]:
        """The ``k`` best entries by fused score, then confidence; ties keep corpus order."""
        pool = np.arange(len(self.entry_ids)) if topic is None else self._by_topic.get(topic)
        if pool is None or not len(pool):
            return []
        if len(pool) > k:  # only the entries scoring at least the k-th best need sorting
            values = fused[pool]
            kth = np.partition(values, len(values) - k)[len(values) - k]
            pool = pool[values >= kth]
        return sorted(pool.tolist(), key=lambda i: (-fused[i], -confidence[i]))[:k]

    def _overlap(self, wanted: set[str], items: Lexicon) -> np.ndarray:
        """IDF-weighted share of ``wanted`` that each entry contains."""
        scores = np.zeros(len(self.entry_ids), dtype=np.float64)
        if not wanted:
            return scores.astype(np.float32)
        weight = items.weights(wanted, self._unknown_idf)
        total = sum(weight.values())
        for item, value in weight.items():
            holders = items.holding(item)
            if holders is not None:
                scores[holders] += value
        return (scores / total).astype(np.float32)

    def _weights(self, query: Query) -> tuple[float, float, float]:
        """Signal weights: dense counts only for what the model can read, exact only with terms."""
        dense = WEIGHTS["dense"] * query.readable_share
        return dense, WEIGHTS["bm25"], WEIGHTS["exact"] if query.terms else 0.0

    def _confidence(
        self, query: Query, dense: np.ndarray, coverage: np.ndarray, exact: np.ndarray
    ) -> np.ndarray:
        dense_weight = 0.5 * query.readable_share
        exact_weight = 0.25 if query.terms else 0.0
        total = dense_weight + 0.5 + exact_weight
        blend = dense_weight * _calibrate(dense) + 0.5 * coverage + exact_weight * exact
        domain = 1.0 if query.about_docker else OFF_DOMAIN_FACTOR
        return np.clip(domain * blend / total, 0.0, 1.0)


def _calibrate(dense: np.ndarray, ceiling: float = DENSE_CEILING) -> np.ndarray:
    return np.clip((dense - DENSE_FLOOR) / (ceiling - DENSE_FLOOR), 0.0, 1.0)


def _rrf(signals: list[np.ndarray]) -> np.ndarray:
    """Reciprocal-rank fusion; entries a signal scores 0 get nothing from it."""
    fused = np.zeros(len(signals[0]) if signals else 0, dtype=np.float64)
    for scores in signals:
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        fused += np.where(scores > 0, 1.0 / (RRF_K + ranks), 0.0)
    return fused

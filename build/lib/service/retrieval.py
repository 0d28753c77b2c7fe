"""Hybrid retrieval over entries: dense (FAISS) + lexical (BM25) + exact terms, fused."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from service import lexicon, ranking, text
from service.cache import LRUCache
from service.corpus import Passage, Topic
from service.embedding import Embedder
from service.lexicon import Lexicon
from service.message import Message
from service.message import parse as parse_message
from service.scoring import SCORING
from service.store import Index
from service.text import Language

Fusion = Literal["weighted", "rrf"]
# "dense" and "bm25" rank by one signal alone: the baselines `dockfaq eval` compares against.
Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class Hit:
    """One entry found for a query, with the passage in the wanted language."""

    entry_id: str
    passage: Passage
    fused: float  # the fused score that ranks hits (not a confidence)
    confidence: float  # 0..1: the fitted chance that this entry answers the question
    dense: float
    bm25: float
    exact: float
    coverage: float


@dataclass(frozen=True)
class Query:
    """A question prepared once for every signal."""

    raw: str
    message: Message  # what the post asks, apart from what it pastes
    language: Language  # the language wanted for the passages
    chinese: bool  # the question itself is written in Chinese
    tokens: list[str]  # of the asking sentences
    title_tokens: list[str]  # of a post's first line, when it has more (else empty)
    terms: set[str]  # exact terms of the prose, the pasted error lines and docker commands
    readable: str  # what the English embedding model can read of the asking sentences
    readable_share: float  # how much of them that is (0..1)
    about_docker: bool
    elsewhere: bool  # names a subject next to dockfaq's (text.ELSEWHERE_WORDS)
    known: float  # IDF-weighted share of its words that the corpus uses at all

    @functools.cached_property  # read by the ranker and the calibrator: built once
    def shape(self) -> ranking.Shape:
        return ranking.Shape(
            words=len(self.tokens),
            readable=self.readable_share,
            has_terms=bool(self.terms),
            docker=self.about_docker,
            elsewhere=self.elsewhere,
            known=self.known,
            chinese=self.chinese,
        )


@dataclass(frozen=True)
class EntryTable:
    """An index's entries, numbered in corpus order: which entry each passage and each vector
    belongs to, the passages by (entry, language), and the entries of each topic."""

    ids: list[str]
    passage_entry: np.ndarray  # passage row -> entry number
    vector_entry: np.ndarray  # vector row -> entry number
    vector_is_answer: np.ndarray  # vector row -> it embeds the passage's answer
    passages: dict[tuple[str, Language], Passage]
    topics: dict[str, Topic]
    by_topic: dict[Topic, np.ndarray]  # topic -> its entry numbers

    @classmethod
    def of(cls, index: Index) -> EntryTable:
        ids = lexicon.entry_ids(index.passages)
        position = {entry_id: i for i, entry_id in enumerate(ids)}
        passage_entry = np.array([position[p.entry_id] for p in index.passages])
        # store.views(): a passage's vectors are consecutive rows, its answer the last of them.
        owners = index.vector_passages
        topics = {p.entry_id: p.topic for p in index.passages}
        return cls(
            ids=ids,
            passage_entry=passage_entry,
            vector_entry=passage_entry[owners],
            vector_is_answer=np.r_[owners[1:] != owners[:-1], True] if len(owners) else owners,
            passages={(p.entry_id, p.language): p for p in index.passages},
            topics=topics,
            by_topic={
                topic: np.array([i for i, e in enumerate(ids) if topics[e] == topic])
                for topic in set(topics.values())
            },
        )


class Retriever:
    """Ranks corpus entries for a question; one entry is one result, whatever its passages."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        fusion: Fusion = "weighted",
        cache_size: int = 0,
        model: ranking.Model | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.fusion = fusion
        self.model = model or ranking.load()
        # Query vectors of this index's model, by the text the model reads; it lives and dies
        # with this Retriever, so a reload (a new index version) starts it empty.
        self.vector_cache: LRUCache[np.ndarray] = LRUCache(cache_size)
        self._candidates = min(index.vectors.ntotal, SCORING.dense_candidates)
        if hasattr(index.vectors, "hnsw"):
            index.vectors.hnsw.efSearch = max(SCORING.hnsw_ef_search, self._candidates)
        self.entries = EntryTable.of(index)
        self.entry_ids = self.entries.ids
        self.topics = self.entries.topics
        # A word the corpus never uses weighs like a typical word: it may be chatter or off-topic.
        self._unknown_idf = float(np.median(index.words.idf)) if len(index.words) else 1.0
        self._titles = self._title_words(index.passages)

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

    def prepare(
        self, question: str, language: Language | None = None, about_docker: bool = False
    ) -> Query:
        """``about_docker``: the conversation the question belongs to is about Docker already,
        so a follow-up that names nothing ("它用 http 的话呢？") is not taken for an unrelated one.
        """
        message = parse_message(question)
        searched = message.focus
        technical = text.terms(message.exact_text)
        detected = text.detect_language(message.asked)
        chinese = detected == "zh"
        tokens = list(dict.fromkeys(text.tokenize(searched)))
        # Most questions are one short line: the prose is what is searched, tokenised once.
        asked_tokens = tokens if searched == message.asked else text.tokenize(message.asked)
        title = message.title
        readable, share = text.translate(searched) if chinese else (searched, 1.0)
        phrases = text.phrases(message.exact_text)
        return Query(
            raw=question,
            message=message,
            language=language or detected,
            chinese=chinese,
            tokens=tokens,
            title_tokens=list(dict.fromkeys(text.tokenize(title))) if title else [],
            terms=technical | {p for p in phrases if p in self.index.terms},
            readable=readable,
            readable_share=share,
            about_docker=about_docker or text.names_docker(question),
            elsewhere=not text.ELSEWHERE_WORDS.isdisjoint(asked_tokens),
            known=self._known(tokens),
        )

    def _known(self, tokens: list[str]) -> float:
        weight = self.index.words.weights(tokens, self._unknown_idf)
        total = sum(weight.values())
        known = sum(w for item, w in weight.items() if item in self.index.words)
        return known / total if total else 0.0

    def strange_to(self, question: str) -> bool:
        """Whether the question names things, none of which the corpus knows ("what about the
        weather?"); one that names nothing ("and then?") is not strange."""
        asked = parse_message(question).asked
        tokens = text.tokenize(asked)
        return (
            bool(tokens)
            and not text.terms(asked)
            and not any(t in self.index.words for t in tokens)
        )

    def search(
        self,
        question: str,
        k: int = 3,
        topic: Topic | None = None,
        language: Language | None = None,
        mode: Mode = "hybrid",
        about_docker: bool = False,
    ) -> list[Hit]:
        """The ``k`` best entries for ``question``, best first (``about_docker``: see prepare)."""
        query = self.prepare(question, language, about_docker)
        signals = self.signals(query, mode)
        if mode == "dense":
            fused, confidence = signals.dense, _calibrate(signals.dense)
        elif mode == "bm25":
            fused, confidence = signals.bm25, signals.coverage
        else:
            fused = self._fuse(query, signals)
            confidence = self.model.probabilities(query.shape, signals, fused)
        order = self._top(fused, confidence, k, topic)
        return [
            Hit(
                entry_id=self.entry_ids[i],
                passage=self.passage(self.entry_ids[i], query.language),
                fused=round(float(fused[i]), 4),
                confidence=round(float(confidence[i]), 4),
                dense=float(signals.dense[i]),
                bm25=float(signals.bm25[i]),
                exact=float(signals.exact[i]),
                coverage=float(signals.coverage[i]),
            )
            for i in order
        ]

    def signals(self, query: Query, mode: Mode = "hybrid") -> ranking.Signals:
        """Every signal for every entry (a baseline mode skips the signal it does not use)."""
        empty = np.zeros(len(self.entry_ids), dtype=np.float32)
        dense, dense_several, dense_answer = (
            self._dense(query) if mode != "bm25" else (empty, empty, empty)
        )
        lexical = mode != "dense"
        return ranking.Signals(
            dense=dense,
            dense_several=dense_several,
            dense_answer=dense_answer,
            bm25=self._bm25(query.tokens) if lexical else empty,
            bm25_title=self._bm25(query.title_tokens) if lexical and query.title_tokens else empty,
            # Inverted lists (item -> entries holding it): overlap costs what the question
            # names, not what the corpus holds.
            exact=self._overlap(query.terms, self.index.terms),
            coverage=self._overlap(set(query.tokens), self.index.words),
            title=self._title_match(query.tokens),
        )

    def _fuse(self, query: Query, signals: ranking.Signals) -> np.ndarray:
        if self.fusion == "rrf":
            parts = (signals.dense, signals.bm25, signals.exact if query.terms else None)
            return _rrf([p for p in parts if p is not None])
        return self.model.scores(query.shape, signals)

    def passage(self, entry_id: str, language: Language) -> Passage:
        return self.entries.passages[(entry_id, language)]

    def _dense(self, query: Query) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per entry: the best cosine over its views, the mean of its best few, and the best
        over its answers alone."""
        n = len(self.entry_ids)
        # The model reads English only (Chinese characters become [UNK]): it gets the glossary's
        # English rendering of a Chinese question.
        if not query.readable or not query.tokens or not query.readable_share:
            return (np.zeros(n, dtype=np.float32),) * 3
        vector = self.vector_cache.get(query.readable)
        if vector is None:
            vector = self.embedder.encode([query.readable])
            self.vector_cache.put(query.readable, vector)
        sims, rows = self.index.vectors.search(vector, self._candidates)
        valid = rows[0] >= 0
        rows = rows[0][valid]
        return _per_entry(
            self.entries.vector_entry[rows], sims[0][valid], self.entries.vector_is_answer[rows], n
        )

    def _bm25(self, tokens: list[str]) -> np.ndarray:
        scores = np.zeros(len(self.entry_ids), dtype=np.float32)
        known = [t for t in tokens if t in self.index.bm25.vocab_dict]
        if known:
            per_passage = self.index.bm25.get_scores(known)
            np.maximum.at(scores, self.entries.passage_entry, per_passage)
        return scores

    def _top(
        self, fused: np.ndarray, confidence: np.ndarray, k: int, topic: Topic | None
    ) -> list[int]:
        """The ``k`` best entries by fused score, then confidence; ties keep corpus order."""
        pool = np.arange(len(self.entry_ids)) if topic is None else self.entries.by_topic.get(topic)
        if pool is None or not len(pool):
            return []
        if len(pool) > k:  # only the entries scoring at least the k-th best need sorting
            values = fused[pool]
            kth = np.partition(values, len(values) - k)[len(values) - k]
            pool = pool[values >= kth]
        return sorted(pool.tolist(), key=lambda i: (-fused[i], -confidence[i]))[:k]

    def _title_words(self, passages: list[Passage]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Title words: word -> (entries whose titles use it, its IDF share of each title)."""
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        weights: list[dict[str, float]] = [{} for _ in self.entry_ids]
        for p in passages:  # both languages' titles
            tokens = text.tokenize(p.title)
            known = self.index.words.weights(tokens, self._unknown_idf)
            weights[position[p.entry_id]].update(known)
        holders: dict[str, tuple[list[int], list[float]]] = {}
        for entry, words in enumerate(weights):
            total = sum(words.values()) or 1.0
            for word, weight in words.items():
                entries, shares = holders.setdefault(word, ([], []))
                entries.append(entry)
                shares.append(weight / total)
        return {w: (np.array(e), np.array(s, dtype=np.float32)) for w, (e, s) in holders.items()}

    def _title_match(self, tokens: list[str]) -> np.ndarray:
        """Per entry, the IDF-weighted share of its title's words that the question uses: high
        when the question names the entry's subject ("multi-stage build", "save vs export")."""
        scores = np.zeros(len(self.entry_ids), dtype=np.float32)
        for token in set(tokens):
            held = self._titles.get(token)
            if held is not None:
                scores[held[0]] += held[1]
        return scores

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


def _per_entry(
    entries: np.ndarray, sims: np.ndarray, is_answer: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From the candidate vectors (``sims`` best first, as FAISS returns them), per entry: the
    best similarity, the mean of its best ``SCORING.views_averaged`` (an entry with fewer candidates
    counts the weakest candidate's similarity for the ones it lacks), and the best answer's."""
    best, answers = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    if not len(sims):
        return best, best.copy(), answers
    order = np.argsort(entries, kind="stable")  # grouped by entry, still best first
    grouped, ranked = entries[order], sims[order]
    first = _group_starts(grouped)
    starts = np.flatnonzero(first)
    best[grouped[starts]] = ranked[starts]
    rank = np.arange(len(grouped)) - starts[np.cumsum(first) - 1]  # 0 = the entry's best
    keep = rank < SCORING.views_averaged
    total = np.bincount(grouped[keep], weights=ranked[keep], minlength=n)
    count = np.bincount(grouped[keep], minlength=n)
    several = (total + (SCORING.views_averaged - count) * float(sims[-1])) / SCORING.views_averaged
    answer_rows = order[is_answer[order]]  # answers only, grouped by entry, best first
    held = entries[answer_rows]
    first_answer = _group_starts(held)
    answers[held[first_answer]] = sims[answer_rows][first_answer]
    return best, several.astype(np.float32), answers


def _group_starts(grouped: np.ndarray) -> np.ndarray:
    """True where a run of equal values in ``grouped`` begins."""
    first = np.ones(len(grouped), dtype=bool)
    np.not_equal(grouped[1:], grouped[:-1], out=first[1:])
    return first


def _calibrate(dense: np.ndarray) -> np.ndarray:
    return np.clip(
        (dense - SCORING.dense_floor) / (SCORING.dense_ceiling - SCORING.dense_floor), 0.0, 1.0
    )


def _rrf(signals: list[np.ndarray]) -> np.ndarray:
    """Reciprocal-rank fusion; entries a signal scores 0 get nothing from it."""
    fused = np.zeros(len(signals[0]) if signals else 0, dtype=np.float64)
    for scores in signals:
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        fused += np.where(scores > 0, 1.0 / (SCORING.rrf_k + ranks), 0.0)
    return fused

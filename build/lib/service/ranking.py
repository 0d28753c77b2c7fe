"""The fitted part of retrieval: signals -> entry scores, and scores -> the chance of being right.

Two small models, fitted by `dockfaq calibrate` on the `dev` split of the real-question set (and
the hand-written eval set) and kept in ``ranking.json`` beside this module:

- a ranker: a linear score per entry over its signals (dense cosine, BM25, exact terms, word
  coverage), with interactions that let the blend depend on the question (its length, how much
  of it the English model can read). Fitted as a softmax over the entries of each question, so
  the score of the entry that answers is pushed above every other's.
- a calibrator: logistic regression from the first entry's score margin and signals to the
  probability that it answers the question (off-topic questions are its negatives). That
  probability is the `confidence` every front end shows; the refusal threshold is fitted with it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).with_name("ranking.json")
# Words of a question beyond which it counts as "long" (interaction features saturate there).
LONG_WORDS = 30.0

ENTRY_FEATURES = (
    "cos",  # best cosine between the question and any view of the entry
    "cos_several",  # mean cosine of the entry's best three views
    "cos_answer",  # best cosine with the entry's answer text
    "cos_long",  # cosine x question length: long posts dilute lexical signals more than dense
    "cos_unread",  # cosine x share of the question the model cannot read (Chinese)
    "bm25",  # BM25 relative to the best entry's
    "bm25_long",
    "bm25_title",  # BM25 of the post's title, relative to the best entry's
    "exact",  # IDF-weighted share of the question's exact terms the entry holds
    "coverage",  # IDF-weighted share of the question's words the entry holds
    "coverage_long",
    "title",  # IDF-weighted share of the entry's title words the question uses
)
CONFIDENCE_FEATURES = (
    "margin",  # the entry's score minus the best other entry's
    "margin_off",  # the same for a question that never names Docker (then it counts for less)
    "margin_unread",  # the same x share the dense model cannot read: a lexical-only lead
    "log_share",  # log of its softmax share among all entries
    "cos",
    "coverage",
    "exact",
    "has_terms",  # the question names exact terms (commands, flags, error lines)
    "docker",  # the question names Docker at all
    "elsewhere",  # it names a subject next to dockfaq's (Swarm, Kubernetes, networking, GPUs)
    "known",  # IDF-weighted share of its words that the corpus uses at all
    "readable",  # share of the question the dense model can read
    "chinese",  # the question is Chinese (its signals run on another scale)
    "long",
    "bias",
)


@dataclass(frozen=True)
class Signals:
    """Per-entry signal arrays for one question, aligned with the retriever's entry list."""

    dense: np.ndarray  # best cosine over the entry's views (title, questions, answer)
    dense_several: np.ndarray  # mean cosine of the entry's best few views
    dense_answer: np.ndarray  # best cosine with the entry's answer
    bm25: np.ndarray
    bm25_title: np.ndarray  # BM25 of a post's title alone (zeros for a one-line question)
    exact: np.ndarray
    coverage: np.ndarray
    title: np.ndarray  # IDF-weighted share of the entry's title words that the question uses


@dataclass(frozen=True)
class Shape:
    """What the features need to know about the question itself."""

    words: int  # length of what is searched
    readable: float  # share of the question the dense model can read (0..1)
    has_terms: bool
    docker: bool
    elsewhere: bool
    known: float  # IDF-weighted share of the question's words that the corpus uses at all
    chinese: bool

    @property
    def long(self) -> float:
        return min(1.0, self.words / LONG_WORDS)


@dataclass(frozen=True)
class Model:
    """Fitted weights, the refusal threshold, and what they were fitted on."""

    rank: np.ndarray
    confidence: np.ndarray
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def untrained(cls) -> Model:
        """All weights zero: every entry ties; for computing signals before the first fit."""
        return cls(np.zeros(len(ENTRY_FEATURES)), np.zeros(len(CONFIDENCE_FEATURES)), 0.5)

    def scores(self, shape: Shape, signals: Signals) -> np.ndarray:
        """A score per entry; only differences between entries mean anything."""
        return np.asarray(entry_features(shape, signals) @ self.rank, dtype=np.float64)

    def probabilities(self, shape: Shape, signals: Signals, scores: np.ndarray) -> np.ndarray:
        """The chance that each entry answers the question (0..1)."""
        features = confidence_features(shape, signals, scores)
        return np.asarray(1.0 / (1.0 + np.exp(-(features @ self.confidence))), dtype=np.float64)

    def save(self, path: Path = PATH) -> None:
        record = {
            "entry_features": list(ENTRY_FEATURES),
            "rank": [round(float(w), 6) for w in self.rank],
            "confidence_features": list(CONFIDENCE_FEATURES),
            "confidence": [round(float(w), 6) for w in self.confidence],
            "threshold": round(self.threshold, 4),
            **self.meta,
        }
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load(path: Path = PATH) -> Model:
    """The fitted model; refuses a file whose features are not this code's."""
    record = json.loads(path.read_text(encoding="utf-8"))
    if (
        tuple(record["entry_features"]) != ENTRY_FEATURES
        or tuple(record["confidence_features"]) != CONFIDENCE_FEATURES
    ):
        raise ValueError(f"{path} was fitted for other features: run 'dockfaq calibrate'")
    meta = {k: v for k, v in record.items() if k not in _FIELDS}
    return Model(
        rank=np.asarray(record["rank"], dtype=np.float64),
        confidence=np.asarray(record["confidence"], dtype=np.float64),
        threshold=float(record["threshold"]),
        meta=meta,
    )


def threshold(setting: float | None, model: Model | None = None) -> float:
    """The refusal threshold: DOCKFAQ_CONFIDENCE_THRESHOLD when set, else the one fitted with
    ``model`` (by default, the shipped ranking.json)."""
    if setting is not None:
        return setting
    return (model or load()).threshold


_FIELDS = {"entry_features", "rank", "confidence_features", "confidence", "threshold"}


def entry_features(shape: Shape, s: Signals) -> np.ndarray:
    """One row per entry, one column per ENTRY_FEATURES name."""
    long, unread = shape.long, 1.0 - shape.readable
    bm25 = _relative(s.bm25)
    out = np.empty((len(s.dense), len(ENTRY_FEATURES)))
    out[:, 0] = s.dense
    out[:, 1] = s.dense_several
    out[:, 2] = s.dense_answer
    out[:, 3] = out[:, 0] * long
    out[:, 4] = out[:, 0] * unread
    out[:, 5] = bm25
    out[:, 6] = bm25 * long
    out[:, 7] = _relative(s.bm25_title)
    out[:, 8] = s.exact
    out[:, 9] = s.coverage
    out[:, 10] = out[:, 9] * long
    out[:, 11] = s.title
    return out


def _relative(scores: np.ndarray) -> np.ndarray:
    best = float(scores.max()) if len(scores) else 0.0
    return scores / best if best > 0 else np.zeros(len(scores))


def confidence_features(shape: Shape, s: Signals, scores: np.ndarray) -> np.ndarray:
    """One row per entry, one column per CONFIDENCE_FEATURES name."""
    n = len(scores)
    out = np.empty((n, len(CONFIDENCE_FEATURES)))
    if not n:
        return out
    first = int(np.argmax(scores))
    best = scores[first]
    second = np.max(np.delete(scores, first)) if n > 1 else best
    # Each entry against the best *other* entry: the first against the second, others against
    # the first.
    margin = scores - best
    margin[first] = best - second
    shifted = scores - best
    out[:, 0] = margin
    out[:, 1] = margin * (not shape.docker)
    out[:, 2] = margin * (1.0 - shape.readable)
    out[:, 3] = shifted - math.log(float(np.exp(shifted).sum()))
    out[:, 4] = s.dense
    out[:, 5] = s.coverage
    out[:, 6] = s.exact
    out[:, 7:] = (
        shape.has_terms,
        shape.docker,
        shape.elsewhere,
        shape.known,
        shape.readable,
        shape.chinese,
        shape.long,
        1.0,
    )
    return out

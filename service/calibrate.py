"""Fit the ranking model (service/ranking.json) on labelled questions: `dockfaq calibrate`.

The ranker is fitted on every in-scope question given; the calibrator on the first entries of
in-scope and declined questions, its prior corrected to the share of declined questions among
``threshold_cases`` (the real `dev` split); the threshold on those same cases:
the one that answers most questions right while refusing at most 3% of in-scope questions and at
least 95% of declined ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service import ranking
from service.evaluation import Case
from service.retrieval import Retriever

# L2 penalty of the ranker's weights and the calibrator's inverse regularisation (sklearn's C).
RANK_L2 = 0.01
CONFIDENCE_C = 1.0
MAX_FALSE_REFUSALS = 0.03
MIN_DECLINED_REFUSED = 0.95
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)
MISS_TOLERANCE = 0.01


@dataclass(frozen=True)
class Sample:
    """One labelled question's signals for every entry."""

    shape: ranking.Shape
    signals: ranking.Signals
    accepted: np.ndarray  # bool per entry: it answers the question
    in_scope: bool


def samples(retriever: Retriever, cases: list[Case]) -> list[Sample]:
    """Signals of every self-contained question (small talk never reaches retrieval)."""
    position = {entry_id: i for i, entry_id in enumerate(retriever.entry_ids)}
    out = []
    for case in cases:
        if case.context or case.kind == "small-talk":
            continue
        query = retriever.prepare(case.question)
        accepted = np.zeros(len(position), dtype=bool)
        accepted[[position[e] for e in case.accepted if e in position]] = True
        if case.in_scope and not accepted.any():
            continue  # labelled with an entry this corpus does not have
        out.append(Sample(query.shape, retriever.signals(query), accepted, case.in_scope))
    return out


def fit_ranker(data: list[Sample]) -> np.ndarray:
    """Weights that maximise the softmax share of the entries that answer, per question."""
    from scipy.optimize import minimize

    features = [ranking.entry_features(s.shape, s.signals) for s in data if s.in_scope]
    accepted = [s.accepted for s in data if s.in_scope]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = RANK_L2 * float(w @ w), 2 * RANK_L2 * w
        for x, right in zip(features, accepted, strict=True):
            s = x @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            q = p * right
            q /= q.sum()
            total -= float(np.log((p * right).sum()))
            grad = grad + x.T @ (p - q)
        return total / len(features), grad / len(features)

    start = np.zeros(len(ranking.ENTRY_FEATURES))
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B").x)


def fit_confidence(
    data: list[Sample], rank: np.ndarray, declined_share: float | None = None
) -> np.ndarray:
    """Logistic regression: the first entry's confidence features -> it answers.

    ``declined_share``: how many questions are to be declined in real traffic. The hand-written
    set holds far more of them than real questions do, which would push every confidence down:
    the intercept is shifted by the difference in log-odds (a prior correction; the slopes, which
    separate in-scope from declined questions, are fitted on all the data as it is).
    """
    from sklearn.linear_model import LogisticRegression

    rows, labels = [], []
    for s in data:
        scores = ranking.entry_features(s.shape, s.signals) @ rank
        first = int(np.argmax(scores))
        rows.append(ranking.confidence_features(s.shape, s.signals, scores)[first, :-1])
        labels.append(bool(s.accepted[first]))
    fitted = LogisticRegression(C=CONFIDENCE_C, max_iter=1000).fit(np.array(rows), labels)
    intercept = float(fitted.intercept_[0])
    trained_share = float(np.mean([not s.in_scope for s in data]))
    if declined_share and 0.0 < trained_share < 1.0:
        intercept += _log_odds(trained_share) - _log_odds(declined_share)
    return np.append(fitted.coef_[0], intercept)


def _log_odds(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def choose_threshold(model: ranking.Model, data: list[Sample]) -> float:
    """The threshold that answers most right within the refusal targets (or comes closest)."""
    first_conf, right, in_scope = [], [], []
    for s in data:
        scores = model.scores(s.shape, s.signals)
        first = int(np.argmax(scores))
        first_conf.append(model.probabilities(s.shape, s.signals, scores)[first])
        right.append(bool(s.accepted[first]))
        in_scope.append(s.in_scope)
    conf, ok, scope = np.array(first_conf), np.array(right), np.array(in_scope)

    def judge(t: float) -> tuple[float, float]:
        answered = conf >= t
        false_refusals = float((~answered[scope]).mean()) if scope.any() else 0.0
        declined = float((~answered[~scope]).mean()) if (~scope).any() else 1.0
        miss = max(0.0, false_refusals - MAX_FALSE_REFUSALS)
        miss += max(0.0, MIN_DECLINED_REFUSED - declined)
        return miss, float((answered & ok)[scope].mean()) if scope.any() else 0.0

    judged = [(t, *judge(float(t))) for t in THRESHOLDS]
    least_miss = min(miss for _, miss, _ in judged)
    # Misses within a question or two of the least are as good: the dev set is small.
    candidates = [(t, right) for t, miss, right in judged if miss <= least_miss + MISS_TOLERANCE]
    best = max(right for _, right in candidates)
    # Among equally good thresholds, the middle one: least sensitive to noise either side.
    tied = [t for t, right in candidates if right >= best - 1e-9]
    return float(tied[len(tied) // 2])


def fit(
    retriever: Retriever, cases: list[Case], threshold_cases: list[Case], meta: dict[str, object]
) -> ranking.Model:
    """The ranking model fitted on ``cases``, its threshold chosen on ``threshold_cases``."""
    data = samples(retriever, cases)
    rank = fit_ranker(data)
    held_out = samples(retriever, threshold_cases)
    declined = float(np.mean([not s.in_scope for s in held_out])) if held_out else None
    confidence = fit_confidence(data, rank, declined)
    draft = ranking.Model(rank, confidence, threshold=0.5)
    threshold = choose_threshold(draft, held_out)
    return ranking.Model(rank, confidence, threshold, meta)

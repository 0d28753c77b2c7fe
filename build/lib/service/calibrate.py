"""Fit the ranking model (service/ranking.json) on labelled questions: `dockfaq calibrate`.

The ranker is fitted on every in-scope question given; the calibrator on the first entries of
in-scope and declined questions, its prior corrected to the share of declined questions among
``threshold_cases`` (the real `dev` split). On those same cases, two choices are made together:
how much less a post that names nothing of Docker is to be trusted in real traffic than in the
training questions (a second prior correction), and the threshold. They are the ones that cost
least, where the cost adds three rates, each divided by what its target allows: in-scope questions
refused (at most 3%), declined questions answered (at most 5%), and off-topic ones answered (at
most 5%, judged apart so that Docker questions outside the corpus's scope, which share its words,
do not hide how many unrelated ones get through).
"""

from __future__ import annotations

from collections.abc import Sequence
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
# A question whose confidence is this close to a threshold counts partly as answered and partly
# as refused (a logistic step this wide): counted hard, the cost is a staircase over a few hundred
# dev questions whose lowest step moves by 0.05-0.1 when one question moves. Bootstrapping the dev
# split, the pick's standard deviation was 0.057 counted hard and 0.025 counted this way.
SOFTNESS = 0.03
# Log-odds taken off a post that names nothing of Docker (text.names_docker), tried in turn.
NOT_DOCKER_PRIORS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class Sample:
    """One labelled question's signals for every entry."""

    shape: ranking.Shape
    signals: ranking.Signals
    accepted: np.ndarray  # bool per entry: it answers the question
    in_scope: bool
    off_topic: bool = False  # declined because it is not about Docker at all


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
        off_topic = case.kind == "off-topic"
        out.append(
            Sample(query.shape, retriever.signals(query), accepted, case.in_scope, off_topic)
        )
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
    data: list[Sample],
    rank: np.ndarray,
    declined_share: float | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Logistic regression: the first entry's confidence features -> it answers.

    ``declined_share``: how many questions are to be declined in real traffic. The hand-written
    set holds far more of them than real questions do, which would push every confidence down:
    the intercept is shifted by the difference in log-odds (a prior correction; the slopes, which
    separate in-scope from declined questions, are fitted on all the data as it is).
    ``weights``: per question (default 1); the declined share trained on is weighted the same.
    """
    from sklearn.linear_model import LogisticRegression

    rows, labels = [], []
    for s in data:
        scores = ranking.entry_features(s.shape, s.signals) @ rank
        first = int(np.argmax(scores))
        rows.append(ranking.confidence_features(s.shape, s.signals, scores)[first, :-1])
        labels.append(bool(s.accepted[first]))
    weights = np.ones(len(data)) if weights is None else weights
    fitted = LogisticRegression(C=CONFIDENCE_C, max_iter=1000).fit(
        np.array(rows), labels, sample_weight=weights
    )
    intercept = float(fitted.intercept_[0])
    trained_share = float(np.average([not s.in_scope for s in data], weights=weights))
    if declined_share and 0.0 < trained_share < 1.0:
        intercept += _log_odds(trained_share) - _log_odds(declined_share)
    return np.append(fitted.coef_[0], intercept)


def _log_odds(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def not_docker_prior(model: ranking.Model, prior: float) -> ranking.Model:
    """``model`` with ``prior`` log-odds taken off every post that does not name Docker."""
    weights = model.confidence.copy()
    weights[ranking.CONFIDENCE_FEATURES.index("docker")] += prior
    weights[ranking.CONFIDENCE_FEATURES.index("bias")] -= prior
    return ranking.Model(model.rank, weights, model.threshold, model.meta)


def choose(
    model: ranking.Model, data: list[Sample], off_topic: Sequence[Sample] = ()
) -> ranking.Model:
    """``model`` with the not-Docker prior and the threshold that cost least (see ``cost``; the
    smallest prior of equals). ``off_topic``: more off-topic questions to
    judge that rate on (it is the one the prior moves, and a few dozen questions measure it
    coarsely)."""
    best: tuple[float, ranking.Model] | None = None
    for prior in NOT_DOCKER_PRIORS:
        candidate = not_docker_prior(model, prior)
        threshold, price = _best_threshold(candidate, data, off_topic)
        if best is None or price < best[0] - 1e-9:
            best = (price, ranking.Model(candidate.rank, candidate.confidence, threshold))
    assert best is not None
    return best[1]


def _first_confidences(model: ranking.Model, data: Sequence[Sample]) -> np.ndarray:
    """The first entry's confidence, per question."""
    confidence = []
    for s in data:
        scores = model.scores(s.shape, s.signals)
        confidence.append(model.probabilities(s.shape, s.signals, scores)[int(np.argmax(scores))])
    return np.array(confidence)


def cost(false_refusals: float, declined_answered: float, unrelated_answered: float) -> float:
    """What a threshold costs: each rate as a share of what the targets allow it, so one false
    refusal in a hundred weighs as much as one declined question in sixty answered. Meeting
    every target exactly costs 3. A sum of rates, unlike a sum of misses past the targets, has
    no flat stretch where every threshold is as good."""
    allowed_answered = 1.0 - MIN_DECLINED_REFUSED
    return (
        false_refusals / MAX_FALSE_REFUSALS
        + declined_answered / allowed_answered
        + unrelated_answered / allowed_answered
    )


def _best_threshold(
    model: ranking.Model, data: list[Sample], off_topic: Sequence[Sample]
) -> tuple[float, float]:
    """(threshold, its cost): the threshold with the least ``cost``, each question counted
    softly (see ``SOFTNESS``)."""
    conf = _first_confidences(model, data)
    scope = np.array([s.in_scope for s in data], dtype=bool)
    labelled_off_topic = np.array([s.off_topic for s in data], dtype=bool)
    unrelated = np.concatenate([conf[labelled_off_topic], _first_confidences(model, off_topic)])

    def above(confidence: np.ndarray, t: float) -> float:
        """The share of ``confidence`` above ``t``, each counted from 0 to 1 near it."""
        if not len(confidence):
            return 0.0
        return float(np.mean(1.0 / (1.0 + np.exp((t - confidence) / SOFTNESS))))

    costs = [
        cost(1.0 - above(conf[scope], t), above(conf[~scope], t), above(unrelated, t))
        for t in THRESHOLDS
    ]
    best = int(np.argmin(costs))
    return float(THRESHOLDS[best]), costs[best]


def fit(
    retriever: Retriever, cases: list[Case], threshold_cases: list[Case], meta: dict[str, object]
) -> ranking.Model:
    """The ranking model fitted on ``cases``, its threshold chosen on ``threshold_cases`` (real
    posts, a part of ``cases``)."""
    held_out_cases = set(threshold_cases)
    held_out = samples(retriever, threshold_cases)
    written = samples(retriever, [c for c in cases if c not in held_out_cases])
    data = held_out + written
    rank = fit_ranker(data)
    declined = float(np.mean([not s.in_scope for s in held_out])) if held_out else None
    # Real posts weigh as much in all as the written questions: the confidence is for real posts.
    weights = None
    if held_out and written:
        weights = np.r_[np.full(len(held_out), len(written) / len(held_out)), np.ones(len(written))]
    confidence = fit_confidence(data, rank, declined, weights)
    # Off-topic questions are off-topic wherever they were written: all of them judge that target.
    unrelated = [s for s in written if s.off_topic]
    chosen = choose(ranking.Model(rank, confidence, threshold=0.5), held_out, unrelated)
    return ranking.Model(chosen.rank, chosen.confidence, chosen.threshold, meta)

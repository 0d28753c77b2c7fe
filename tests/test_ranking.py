"""The fitted ranking model: save/load, fitting, and the refusal threshold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service import calibrate, evaluation, ranking
from service.retrieval import Retriever

CLEAN = Path(__file__).parent / "eval" / "questions.jsonl"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = ranking.Model(
        rank=np.arange(len(ranking.ENTRY_FEATURES), dtype=float),
        confidence=np.linspace(-1, 1, len(ranking.CONFIDENCE_FEATURES)),
        threshold=0.37,
        meta={"questions": 12},
    )
    path = tmp_path / "ranking.json"
    model.save(path)
    loaded = ranking.load(path)
    assert np.allclose(loaded.rank, model.rank) and np.allclose(loaded.confidence, model.confidence)
    assert loaded.threshold == 0.37 and loaded.meta == {"questions": 12}


def test_load_refuses_weights_for_other_features(tmp_path: Path) -> None:
    path = tmp_path / "ranking.json"
    ranking.Model.untrained().save(path)
    record = json.loads(path.read_text())
    record["entry_features"] = record["entry_features"][:-1]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="dockfaq calibrate"):
        ranking.load(path)


def test_the_shipped_model_matches_this_code() -> None:
    model = ranking.load()
    assert 0.0 < model.threshold < 1.0
    assert model.rank.shape == (len(ranking.ENTRY_FEATURES),)


def test_a_weight_counts_like_repeating_the_question(fake_retriever: Retriever) -> None:
    # Real posts are weighted up in the confidence fit: weight 3 must mean "asked three times".
    cases = [c for c in evaluation.load_cases(CLEAN) if not c.context][::9]
    data = calibrate.samples(fake_retriever, cases)
    rank = calibrate.fit_ranker(data)
    few = len(data) // 4
    repeated = calibrate.fit_confidence(data + data[:few] * 2, rank, declined_share=0.2)
    weights = np.r_[np.full(few, 3.0), np.ones(len(data) - few)]
    weighted = calibrate.fit_confidence(data, rank, declined_share=0.2, weights=weights)
    assert np.allclose(weighted, repeated, atol=1e-3)
    assert not np.allclose(weighted, calibrate.fit_confidence(data, rank, 0.2), atol=1e-3)


def _hit1(retriever: Retriever, model: ranking.Model, data: list[calibrate.Sample]) -> float:
    right = [s.accepted[int(np.argmax(model.scores(s.shape, s.signals)))] for s in data]
    return float(np.mean(right))


def test_fitting_ranks_better_than_no_weights(fake_retriever: Retriever) -> None:
    cases = [c for c in evaluation.load_cases(CLEAN) if not c.context][::6]
    data = calibrate.samples(fake_retriever, cases)
    rank = calibrate.fit_ranker(data)
    fitted = ranking.Model(rank, np.zeros(len(ranking.CONFIDENCE_FEATURES)), 0.5)
    in_scope = [s for s in data if s.in_scope]
    assert (
        _hit1(fake_retriever, fitted, in_scope)
        > _hit1(fake_retriever, ranking.Model.untrained(), in_scope) + 0.3
    )
    confidence = calibrate.fit_confidence(data, rank)
    model = ranking.Model(rank, confidence, 0.5)
    # Calibrated: answers it is sure of are right more often than the ones it doubts.
    firsts = []
    for s in data:
        scores = model.scores(s.shape, s.signals)
        first = int(np.argmax(scores))
        firsts.append((model.probabilities(s.shape, s.signals, scores)[first], s.accepted[first]))
    firsts.sort()
    half = len(firsts) // 2
    assert np.mean([r for _, r in firsts[half:]]) > np.mean([r for _, r in firsts[:half]])


def _sample(
    cos: float, in_scope: bool, docker: bool = True, off_topic: bool = False
) -> calibrate.Sample:
    n = 3
    dense = np.array([cos, 0.1, 0.1], dtype=np.float32)
    zeros = np.zeros(n, dtype=np.float32)
    signals = ranking.Signals(dense, dense, dense, zeros, zeros, zeros, zeros, zeros)
    shape = ranking.Shape(
        words=5,
        readable=1.0,
        has_terms=False,
        docker=docker,
        elsewhere=False,
        known=1.0,
        chinese=False,
    )
    accepted = np.array([in_scope, False, False])
    return calibrate.Sample(shape, signals, accepted, in_scope, off_topic)


def test_threshold_separates_what_can_be_separated() -> None:
    cos = ranking.CONFIDENCE_FEATURES.index("cos")
    weights = np.zeros(len(ranking.CONFIDENCE_FEATURES))
    weights[cos], weights[-1] = 10.0, -5.0  # probability = sigmoid(10 cos - 5)
    rank = np.zeros(len(ranking.ENTRY_FEATURES))
    rank[ranking.ENTRY_FEATURES.index("cos")] = 1.0
    model = ranking.Model(rank, weights, 0.5)
    data = [_sample(0.9, True)] * 40 + [_sample(0.2, False)] * 20  # p = 0.98 vs 0.05
    threshold = calibrate.choose(model, data).threshold  # no post lacks Docker: no prior
    assert 0.05 < threshold <= 0.98


def test_a_prior_against_posts_that_never_name_docker() -> None:
    cos = ranking.CONFIDENCE_FEATURES.index("cos")
    weights = np.zeros(len(ranking.CONFIDENCE_FEATURES))
    weights[cos], weights[-1] = 10.0, -5.0
    rank = np.zeros(len(ranking.ENTRY_FEATURES))
    rank[ranking.ENTRY_FEATURES.index("cos")] = 1.0
    model = ranking.Model(rank, weights, 0.5)
    # Off-topic posts look as close to an entry as real questions do; only the Docker words
    # tell them apart. A few real questions name no Docker word either and are weaker.
    data = (
        [_sample(0.8, True)] * 40
        + [_sample(0.8, True, docker=False)] * 2
        + [_sample(0.8, False, docker=False, off_topic=True)] * 20
        + [_sample(0.2, False)] * 10
    )
    chosen = calibrate.choose(model, data)
    assert chosen.confidence[ranking.CONFIDENCE_FEATURES.index("docker")] > 0
    answered = []
    for s in data:
        scores = chosen.scores(s.shape, s.signals)
        answered.append(chosen.probabilities(s.shape, s.signals, scores)[0] >= chosen.threshold)
    assert all(answered[:40]) and not any(answered[42:])


def test_feature_columns_follow_their_names() -> None:
    n = 4
    signals = ranking.Signals(
        dense=np.full(n, 0.5, dtype=np.float32),
        dense_several=np.full(n, 0.4, dtype=np.float32),
        dense_answer=np.full(n, 0.3, dtype=np.float32),
        bm25=np.array([4.0, 2.0, 1.0, 0.0], dtype=np.float32),
        bm25_title=np.array([0.0, 3.0, 0.0, 0.0], dtype=np.float32),
        exact=np.full(n, 0.25, dtype=np.float32),
        coverage=np.full(n, 0.75, dtype=np.float32),
        title=np.full(n, 0.125, dtype=np.float32),
    )
    shape = ranking.Shape(
        words=15,
        readable=0.8,
        has_terms=True,
        docker=False,
        elsewhere=True,
        known=0.6,
        chinese=True,
    )
    rows = ranking.entry_features(shape, signals)
    column = dict(zip(ranking.ENTRY_FEATURES, rows[1], strict=True))
    assert column["cos"] == 0.5 and column["cos_several"] == pytest.approx(0.4)
    assert column["cos_long"] == pytest.approx(0.5 * 0.5) and column["cos_unread"] == pytest.approx(
        0.1
    )
    assert column["bm25"] == 0.5 and column["bm25_title"] == 1.0 and column["title"] == 0.125
    assert column["coverage_long"] == pytest.approx(0.75 * 0.5)
    scores = np.array([3.0, 1.0, 0.5, 0.0])
    confidence = ranking.confidence_features(shape, signals, scores)
    first = dict(zip(ranking.CONFIDENCE_FEATURES, confidence[0], strict=True))
    other = dict(zip(ranking.CONFIDENCE_FEATURES, confidence[2], strict=True))
    assert first["margin"] == 2.0 and other["margin"] == -2.5  # against the best other entry
    assert first["margin_off"] == 2.0 and first["margin_unread"] == pytest.approx(0.4)
    assert first["docker"] == 0.0 and first["elsewhere"] == 1.0 and first["bias"] == 1.0
    assert first["chinese"] == 1.0 and first["known"] == pytest.approx(0.6)
    assert np.exp(confidence[:, ranking.CONFIDENCE_FEATURES.index("log_share")]).sum() == (
        pytest.approx(1.0)
    )


def test_the_threshold_prices_each_mistake_by_its_target() -> None:
    assert calibrate.cost(0.03, 0.0, 0.0) == pytest.approx(calibrate.cost(0.0, 0.05, 0.0))
    cos = ranking.CONFIDENCE_FEATURES.index("cos")
    weights = np.zeros(len(ranking.CONFIDENCE_FEATURES))
    weights[cos], weights[-1] = 10.0, -5.0  # sigmoid(10 * 0.45 - 5) = 0.38
    rank = np.zeros(len(ranking.ENTRY_FEATURES))
    rank[ranking.ENTRY_FEATURES.index("cos")] = 1.0
    model = ranking.Model(rank, weights, 0.5)

    def threshold(weak_in_scope: int, weak_declined: int) -> float:
        data = (
            [_sample(0.9, True)] * (100 - weak_in_scope)
            + [_sample(0.45, True)] * weak_in_scope
            + [_sample(0.45, False)] * weak_declined
            + [_sample(0.1, False)] * (20 - weak_declined)
        )
        return calibrate.choose(model, data).threshold

    # Answering one weak declined question in twenty costs 1.0; refusing ten weak in-scope
    # questions in a hundred costs 3.3: answer them all.
    assert threshold(weak_in_scope=10, weak_declined=1) <= 0.38
    # Refusing one in-scope question costs 0.33; answering ten declined ones costs 10.
    assert threshold(weak_in_scope=1, weak_declined=10) > 0.38

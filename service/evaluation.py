"""Measure retrieval and refusal quality on a labelled question set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from service.answer import answer
from service.errors import DockfaqError
from service.retrieval import Retriever


@dataclass(frozen=True)
class Case:
    """A labelled question: ``expect`` is the entry that answers it, or None if none does."""

    question: str
    language: str
    expect: str | None


@dataclass(frozen=True)
class Report:
    positives: int
    negatives: int
    hit_at_1: float
    hit_at_3: float
    mrr: float
    answered_correctly: float  # answered, and citations[0] is the expected entry
    wrongly_answered: float  # answered, with another entry first
    refused_negatives: float  # off-topic questions that were refused
    misses: list[tuple[str, str | None, str | None]]


def load_cases(paths: list[Path]) -> list[Case]:
    cases = []
    for path in paths:
        records = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        for i, record in enumerate(records):
            if not isinstance(record, dict) or "q" not in record or "expect" not in record:
                raise DockfaqError(f"{path}: item {i} needs 'q' and 'expect'")
            cases.append(Case(str(record["q"]), str(record.get("lang", "")), record["expect"]))
    return cases


def evaluate(retriever: Retriever, cases: list[Case], threshold: float) -> Report:
    positives = [c for c in cases if c.expect]
    negatives = [c for c in cases if not c.expect]
    ranks: list[int | None] = []
    correct = wrong = 0
    misses: list[tuple[str, str | None, str | None]] = []
    for case in positives:
        found = [h.entry_id for h in retriever.search(case.question, k=10)]
        ranks.append(found.index(case.expect) + 1 if case.expect in found else None)
        result = answer(retriever, case.question, threshold=threshold)
        top = result.citations[0].id if result.citations else None
        correct += result.answered and top == case.expect
        wrong += result.answered and top != case.expect
        if top != case.expect:
            misses.append((case.question, case.expect, top))
    refused = 0
    for case in negatives:
        result = answer(retriever, case.question, threshold=threshold)
        refused += not result.answered
        if result.answered:
            misses.append((case.question, None, result.citations[0].id))
    n = max(len(positives), 1)
    return Report(
        positives=len(positives),
        negatives=len(negatives),
        hit_at_1=sum(r == 1 for r in ranks) / n,
        hit_at_3=sum(r is not None and r <= 3 for r in ranks) / n,
        mrr=sum(1 / r for r in ranks if r) / n,
        answered_correctly=correct / n,
        wrongly_answered=wrong / n,
        refused_negatives=refused / max(len(negatives), 1),
        misses=misses,
    )

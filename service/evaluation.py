"""Measure retrieval and refusals on the labelled questions, for hybrid and single-signal modes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from service.answer import search_in_context
from service.corpus import TOPICS
from service.errors import DockfaqError
from service.retrieval import Mode, Retriever

MODES: tuple[Mode, ...] = ("hybrid", "bm25", "dense")
ALL = "(all)"


@dataclass(frozen=True)
class Case:
    """A labelled question. ``expect`` None: off-topic, must be refused.
    ``context``: earlier turns, for follow-ups that only make sense after them."""

    question: str
    language: str
    topic: str | None
    expect: str | None
    context: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # other entries that answer the question just as well

    @property
    def accepted(self) -> set[str]:
        return {self.expect, *self.also} if self.expect else set()


@dataclass
class Score:
    """Counts for one group of questions; rates are computed on demand."""

    n: int = 0
    hit1: int = 0
    hit3: int = 0
    topic1: int = 0
    reciprocal: float = 0.0
    refused: int = 0
    misses: list[str] = field(default_factory=list)

    def rate(self, count: float) -> float:
        return count / self.n if self.n else 0.0


@dataclass
class Report:
    """Scores by (mode, language, topic); off-topic questions under topic None."""

    threshold: float
    scores: dict[tuple[str, str, str | None], Score] = field(default_factory=dict)
    # Conversations (hybrid): follow-ups whose first citation has the expected topic, asked
    # alone and after their context; self-contained questions answered right, fresh and asked
    # after an unrelated question.
    follow_ups: int = 0
    follow_ups_alone: int = 0
    follow_ups_in_context: int = 0
    fresh_right: int = 0
    mid_conversation_right: int = 0

    def score(self, mode: str, language: str, topic: str | None) -> Score:
        return self.scores.setdefault((mode, language, topic), Score())


def load_cases(path: Path) -> list[Case]:
    """Read a JSON Lines file of labelled questions, validating every line."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            case = Case(
                question=record["q"],
                language=record["lang"],
                topic=record.get("topic"),
                expect=record.get("expect"),
                context=tuple(record.get("context", ())),
                also=tuple(record.get("also", ())),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DockfaqError(f"{path}:{number}: not a labelled question ({exc})") from exc
        if case.language not in ("en", "zh") or (case.topic and case.topic not in TOPICS):
            raise DockfaqError(f"{path}:{number}: bad lang or topic")
        cases.append(case)
    return cases


def evaluate(
    retriever: Retriever, cases: list[Case], threshold: float, modes: tuple[Mode, ...] = MODES
) -> Report:
    """Score every self-contained case in every mode (follow-ups need a conversation)."""
    report = Report(threshold)
    _conversations(report, retriever, cases, threshold)
    for case in (c for c in cases if not c.context):
        for mode in modes:
            hits = retriever.search(case.question, k=10, mode=mode)
            refused = not hits or hits[0].confidence < threshold
            for language in (case.language, ALL):
                for topic in (case.topic, ALL) if case.topic else (None,):
                    _count(report.score(mode, language, topic), case, hits, refused)
    return report


def _conversations(
    report: Report, retriever: Retriever, cases: list[Case], threshold: float
) -> None:
    def topic_of(hits: list) -> str | None:  # type: ignore[type-arg]
        return hits[0].passage.topic if hits and hits[0].confidence >= threshold else None

    for case in (c for c in cases if c.context):
        report.follow_ups += 1
        alone = search_in_context(retriever, case.question, (), threshold, 3)
        joined = search_in_context(retriever, case.question, case.context, threshold, 3)
        report.follow_ups_alone += topic_of(alone) == case.topic
        report.follow_ups_in_context += topic_of(joined) == case.topic
    single = [c for c in cases if c.expect and not c.context]
    for i, case in enumerate(single):
        # The previous question comes from another topic: a deterministic, unrelated choice.
        earlier = next((o for o in single[i + 1 :] + single[:i] if o.topic != case.topic), None)
        if earlier is None:
            continue
        for history, attribute in (
            ((), "fresh_right"),
            ((earlier.question,), "mid_conversation_right"),
        ):
            hits = search_in_context(retriever, case.question, history, threshold, 1)
            right = (
                bool(hits) and hits[0].confidence >= threshold and hits[0].entry_id in case.accepted
            )
            setattr(report, attribute, getattr(report, attribute) + right)


def _count(score: Score, case: Case, hits: list, refused: bool) -> None:  # type: ignore[type-arg]
    score.n += 1
    score.refused += refused
    if case.expect is None:
        if not refused:
            score.misses.append(f"{case.question!r}: answered with {hits[0].entry_id}")
        return
    found = [h.entry_id for h in hits]
    ranks = [i for i, entry_id in enumerate(found, start=1) if entry_id in case.accepted]
    rank = ranks[0] if ranks else None
    score.hit1 += rank == 1
    score.hit3 += rank is not None and rank <= 3
    score.topic1 += bool(hits) and (hits[0].passage.topic == case.topic or rank == 1)
    score.reciprocal += 1 / rank if rank else 0.0
    if rank != 1 or refused:
        got = found[0] if found else None
        score.misses.append(
            f"{case.question!r}: expected {case.expect}, got {got}"
            + (" (refused)" if refused else "")
        )


def table(report: Report, modes: tuple[Mode, ...] = MODES) -> str:
    """One plain-text table: per language and topic, each mode's metrics side by side."""
    head = f"{'lang':4} {'topic':24} {'n':>4}"
    for mode in modes:
        head += f" | {mode:6} {'h@1':>5} {'t@1':>5} {'h@3':>5} {'mrr':>5} {'f-ref':>5}"
    lines = [head, "-" * len(head)]
    for language in ("en", "zh", ALL):
        for topic in (*TOPICS, ALL):
            first = report.scores.get((modes[0], language, topic))
            if not first:
                continue
            row = f"{language:4} {topic:24} {first.n:>4}"
            for mode in modes:
                s = report.score(mode, language, topic)
                row += (
                    f" | {'':6} {s.rate(s.hit1):5.3f} {s.rate(s.topic1):5.3f} "
                    f"{s.rate(s.hit3):5.3f} {s.rate(s.reciprocal):5.3f} {s.rate(s.refused):5.3f}"
                )
            lines.append(row)
        off = report.scores.get((modes[0], language, None))
        if off:
            row = f"{language:4} {'off-topic refused':24} {off.n:>4}"
            for mode in modes:
                s = report.score(mode, language, None)
                row += f" | {'':6} {s.rate(s.refused):5.3f}{'':24}"
            lines.append(row)
    if report.follow_ups:
        lines.append(
            f"follow-ups, right topic: {report.follow_ups_in_context}/{report.follow_ups} with "
            f"their conversation, {report.follow_ups_alone}/{report.follow_ups} alone; "
            f"self-contained answered right: {report.fresh_right} fresh, "
            f"{report.mid_conversation_right} asked mid-conversation"
        )
    lines.append(
        "h@1/h@3: expected entry first/in top 3; t@1: right topic first; mrr: entry MRR@10; "
        f"f-ref: in-topic questions refused (confidence < {report.threshold})"
    )
    return "\n".join(lines)

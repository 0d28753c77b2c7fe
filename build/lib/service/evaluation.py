"""Measure answers on labelled questions: retrieval, refusals, small talk and calibration.

Two sets live in tests/eval: ``questions.jsonl`` (written by the team: short, clean questions
and follow-ups) and ``real.jsonl`` (questions as people posted them, with their URLs, split once
into ``dev``, which fitting may use, and ``test``, which only reports).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from service import smalltalk
from service.answer import answer, search_in_context
from service.corpus import TOPICS
from service.errors import DockfaqError
from service.retrieval import Hit, Mode, Retriever

MODES: tuple[Mode, ...] = ("hybrid", "bm25", "dense")
ALL = "(all)"
KINDS = ("question", "off-topic", "out-of-scope", "small-talk")
SPLITS = ("dev", "test")
# Appended under every in-scope question to measure robustness to pasted output.
PASTED = Path(__file__).resolve().parent.parent / "tests" / "eval" / "pasted"
# Confidence buckets of the reliability table.
BUCKETS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


@dataclass(frozen=True)
class Case:
    """A labelled question. ``expect`` None: must be declined (off-topic, out of scope, or
    small talk). ``context``: earlier questions of the conversation."""

    question: str
    language: str
    topic: str | None
    expect: str | None
    context: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # other entries that answer the question just as well
    kind: str = "question"
    split: str | None = None
    url: str | None = None

    @property
    def accepted(self) -> set[str]:
        return {self.expect, *self.also} if self.expect else set()

    @property
    def in_scope(self) -> bool:
        return self.expect is not None


@dataclass
class Score:
    """Counts for one group of questions; rates are computed on demand."""

    n: int = 0
    hit1: int = 0
    hit3: int = 0
    topic1: int = 0
    reciprocal: float = 0.0
    refused: int = 0
    answered_right: int = 0  # answered, and the first entry is one that answers
    answered_topic: int = 0  # answered, the first entry of the right topic, right language
    misses: list[str] = field(default_factory=list)

    def rate(self, count: float) -> float:
        return count / self.n if self.n else 0.0


@dataclass
class Report:
    """Scores by (mode, language, topic); declined questions under topic None."""

    threshold: float
    scores: dict[tuple[str, str, str | None], Score] = field(default_factory=dict)
    # (confidence of the first entry, whether it answers) for every hybrid question.
    confidences: list[tuple[float, bool]] = field(default_factory=list)
    small_talk: int = 0
    small_talk_cited: int = 0  # small talk answered with a citation or marked answered
    # Follow-ups whose first citation has the expected topic, asked alone and after their
    # context; self-contained questions answered right, fresh and after an unrelated question.
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
                kind=record.get("kind", "question" if record.get("expect") else "off-topic"),
                split=record.get("split"),
                url=record.get("url"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DockfaqError(f"{path}:{number}: not a labelled question ({exc})") from exc
        problem = _problem(case)
        if problem:
            raise DockfaqError(f"{path}:{number}: {problem}")
        cases.append(case)
    return cases


def _problem(case: Case) -> str | None:
    if case.language not in ("en", "zh"):
        return f"bad lang {case.language!r}"
    if case.topic and case.topic not in TOPICS:
        return f"unknown topic {case.topic!r}"
    if case.kind not in KINDS:
        return f"unknown kind {case.kind!r}"
    if (case.kind == "question") != case.in_scope:
        return "a question needs 'expect'; a declined one must not have it"
    if case.split not in (None, *SPLITS):
        return f"unknown split {case.split!r}"
    return None


def evaluate(
    retriever: Retriever,
    cases: list[Case],
    threshold: float,
    modes: tuple[Mode, ...] = MODES,
) -> Report:
    """Score every case: each self-contained question in every mode; follow-ups and small talk
    in their conversation."""
    report = Report(threshold)
    _conversations(report, retriever, cases, threshold)
    for case in cases:
        if case.kind == "small-talk":
            _small_talk(report, retriever, case, threshold)
        elif not case.context:
            for mode in modes:
                hits = retriever.search(case.question, k=10, mode=mode)
                _count_everywhere(report, mode, case, hits, threshold)
    return report


def evaluate_pasted(retriever: Retriever, cases: list[Case], threshold: float) -> Report:
    """Hybrid scores for the in-scope questions with pasted system output appended: each
    question gets one of the samples in tests/eval/pasted, in turn."""
    samples = [p.read_text(encoding="utf-8") for p in sorted(PASTED.glob("*.txt"))]
    report = Report(threshold)
    single = [c for c in cases if c.in_scope and not c.context]
    for i, case in enumerate(single):
        question = f"{case.question.rstrip()}\n\n{samples[i % len(samples)]}"
        hits = retriever.search(question, k=10)
        _count_everywhere(report, "hybrid", case, hits, threshold)
    return report


def _count_everywhere(
    report: Report, mode: str, case: Case, hits: list[Hit], threshold: float
) -> None:
    refused = not hits or hits[0].confidence < threshold
    if mode == "hybrid" and hits:
        report.confidences.append((hits[0].confidence, hits[0].entry_id in case.accepted))
    for language in (case.language, ALL):
        # Declined questions count together (topic None) and by kind (off-topic, out-of-scope).
        for topic in (case.topic, ALL) if case.topic else (None, case.kind):
            _count(report.score(mode, language, topic), case, hits, refused)


def _small_talk(report: Report, retriever: Retriever, case: Case, threshold: float) -> None:
    result = answer(retriever, case.question, threshold=threshold, history=case.context)
    report.small_talk += 1
    cited = result.answered or bool(result.citations) or bool(result.alternatives)
    report.small_talk_cited += cited
    if cited or smalltalk.kind(case.question) is None:
        report.score("hybrid", case.language, None).misses.append(
            f"small talk {case.question!r}: " + ("cited" if cited else "not recognised")
        )


def _conversations(
    report: Report, retriever: Retriever, cases: list[Case], threshold: float
) -> None:
    def topic_of(hits: list[Hit]) -> str | None:
        return hits[0].passage.topic if hits and hits[0].confidence >= threshold else None

    for case in (c for c in cases if c.context and c.kind == "question"):
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


def _count(score: Score, case: Case, hits: list[Hit], refused: bool) -> None:
    score.n += 1
    score.refused += refused
    if case.expect is None:
        if not refused:
            score.misses.append(f"{case.question[:120]!r}: answered with {hits[0].entry_id}")
        return
    found = [h.entry_id for h in hits]
    ranks = [i for i, entry_id in enumerate(found, start=1) if entry_id in case.accepted]
    rank = ranks[0] if ranks else None
    topic_right = bool(hits) and (hits[0].passage.topic == case.topic or rank == 1)
    score.hit1 += rank == 1
    score.hit3 += rank is not None and rank <= 3
    score.topic1 += topic_right
    score.reciprocal += 1 / rank if rank else 0.0
    score.answered_right += rank == 1 and not refused
    right_language = bool(hits) and hits[0].passage.language == case.language
    score.answered_topic += topic_right and not refused and right_language
    if rank != 1 or refused:
        got = found[0] if found else None
        score.misses.append(
            f"{case.question[:120]!r}: expected {case.expect}, got {got}"
            + (f" (refused, {hits[0].confidence:.2f})" if refused and hits else "")
        )


def table(report: Report, modes: tuple[Mode, ...] = MODES) -> str:
    """Per language and topic, each mode's metrics side by side."""
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
            row = f"{language:4} {'declined refused':24} {off.n:>4}"
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
        "h@1/h@3: an entry that answers first/in the top 3; t@1: right topic first; mrr: entry "
        f"MRR@10; f-ref: in-scope questions refused (confidence < {report.threshold:.2f})"
    )
    return "\n".join(lines)


def summary(reports: dict[str, Report], pasted: dict[str, Report] | None = None) -> str:
    """The headline measures, one column per report (e.g. dev and test)."""
    names = list(reports)
    lines = [f"{'measure (hybrid)':44}" + "".join(f" {n:>8}" for n in names)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:44}" + "".join(f" {v:>8}" for v in values))

    for language in ("en", "zh"):
        scores = [r.score("hybrid", language, ALL) for r in reports.values()]
        row(f"{language}: questions", [str(s.n) for s in scores])
        row(
            f"{language}: answered, entry right",
            [f"{s.rate(s.answered_right):.3f}" for s in scores],
        )
        row(
            f"{language}: answered, topic + language right",
            [f"{s.rate(s.answered_topic):.3f}" for s in scores],
        )
        row(f"{language}: hit@3", [f"{s.rate(s.hit3):.3f}" for s in scores])
        row(f"{language}: false refusals", [f"{s.rate(s.refused):.3f}" for s in scores])
        if pasted:
            drops = []
            for name, s in zip(names, scores, strict=True):
                p = pasted[name].score("hybrid", language, ALL)
                drops.append(f"{p.rate(p.answered_topic) - s.rate(s.answered_topic):+.3f}")
            row(f"{language}: with pasted output: change of topic+lang", drops)
    for label, kind in (
        ("declined (off-topic, out of scope)", None),
        ("off-topic", "off-topic"),
        ("Docker, out of scope", "out-of-scope"),
    ):
        declined = [r.score("hybrid", ALL, kind) for r in reports.values()]
        row(f"{label}: refused", [f"{s.rate(s.refused):.3f}" for s in declined])
        row(f"{label}: questions", [str(s.n) for s in declined])
    row(
        "small talk answered with a citation",
        [f"{r.small_talk_cited}/{r.small_talk}" for r in reports.values()],
    )
    return "\n".join(lines)


def reliability(report: Report) -> str:
    """Confidence bucket -> how often the first entry answers: a calibrated confidence rises
    with the bucket and sits inside it."""
    lines = [f"{'confidence':>12} {'n':>5} {'right':>6}"]
    for low, high in itertools.pairwise(BUCKETS):
        inside = [right for c, right in report.confidences if low <= c < high]
        share = f"{sum(inside) / len(inside):.3f}" if inside else "-"
        lines.append(f"{low:5.2f}-{min(high, 1.0):4.2f} {len(inside):>7} {share:>6}")
    return "\n".join(lines)


def full_report(
    retriever: Retriever, cases: list[Case], threshold: float, misses: bool = False
) -> str:
    """What `dockfaq eval` prints: a table per split (or one for a file without splits), the
    summary side by side (with pasted output), the reliability tables and, if asked, the misses."""
    groups = {name: split(cases, name) for name in SPLITS}
    groups = {name: group for name, group in groups.items() if group} or {"all": cases}
    reports = {n: evaluate(retriever, g, threshold) for n, g in groups.items()}
    pasted = {n: evaluate_pasted(retriever, g, threshold) for n, g in groups.items()}
    parts = [f"\n== {n} ({len(groups[n])} questions)\n{table(r)}" for n, r in reports.items()]
    parts.append(f"\n== summary\n{summary(reports, pasted)}")
    parts += [f"\n== reliability, {n}\n{reliability(r)}" for n, r in reports.items()]
    if misses:
        parts += [_misses(name, report) for name, report in reports.items()]
    return "\n".join(parts)


def _misses(name: str, report: Report) -> str:
    lines = []
    for (mode, language, topic), score in sorted(report.scores.items(), key=str):
        if mode == "hybrid" and language != ALL and topic != ALL:
            lines += [f"  [{name} {language} {topic or 'declined'}] {m}" for m in score.misses]
    return "\n".join(lines)


def split(cases: list[Case], name: str) -> list[Case]:
    return [c for c in cases if c.split == name]

"""Question -> extractive Answer with citations, or a polite refusal with alternatives.

Every front end (HTTP, CLI, chat platforms) calls ``answer`` so citations are the same everywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from service import ranking, smalltalk, text
from service.corpus import Topic
from service.retrieval import Hit, Retriever
from service.scoring import SCORING
from service.text import Language

SNIPPET_CHARS = 200
REFUSALS = {
    "en": (
        "Sorry, I could not find an answer to that in the dockfaq corpus. It covers Docker "
        "images and containers, containers that exit, saving/loading/exporting/importing "
        "images, running as a non-root user, base images and registries."
    ),
    "zh": (
        "抱歉，dockfaq 的知识库中没有找到这个问题的答案。知识库涵盖：Docker 镜像与容器、"
        "容器启动后退出、镜像的保存/加载/导出/导入、以非 root 用户运行、基础镜像以及镜像仓库。"
    ),
}
SUGGEST = {"en": "Perhaps one of these helps:", "zh": "也许这些条目对你有帮助："}
RELATED = {"en": "Related:", "zh": "相关条目："}


@dataclass(frozen=True)
class Citation:
    """A cited corpus entry, in the language of the answer."""

    n: int
    id: str
    title: str
    topic: Topic
    language: Language
    url: str | None
    snippet: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (dataclasses.asdict deep-copies: 20 µs a citation)."""
        return dict(vars(self))


@dataclass(frozen=True)
class Answer:
    """The result of asking one question."""

    answered: bool
    text: str
    language: Language
    confidence: float
    index_version: str
    citations: list[Citation] = field(default_factory=list)
    alternatives: list[Citation] = field(default_factory=list)


def answer(
    retriever: Retriever,
    question: str,
    top_k: int = 3,
    topic: Topic | None = None,
    language: Language | None = None,
    threshold: float | None = None,
    history: Sequence[str] = (),
) -> Answer:
    """Answer ``question`` from the corpus: the best entry's text with ``[n]`` citations.

    ``history``: the conversation's earlier questions, oldest first, for follow-ups.
    ``threshold``: the confidence below which it refuses; None: the fitted one.
    """
    threshold = ranking.threshold(threshold, retriever.model)
    chatter = smalltalk.kind(question)
    if chatter is not None:
        language = language or _chatter_language(question, history)
        return Answer(
            answered=False,
            text=smalltalk.reply(chatter, language),
            language=language,
            confidence=0.0,
            index_version=retriever.version,
        )
    language = language or text.detect_language(question)
    hits = search_in_context(retriever, question, history, threshold, top_k, topic, language)
    best = hits[0] if hits else None
    if best is None or best.confidence < threshold:
        alternatives = [h for h in hits if h.confidence >= SCORING.alternative_floor]
        return Answer(
            answered=False,
            text=_refusal(language, alternatives),
            language=language,
            confidence=best.confidence if best else 0.0,
            index_version=retriever.version,
            alternatives=_citations(alternatives),
        )
    cited = [best] + [
        h
        for h in hits[1:]
        if h.confidence >= threshold and h.fused >= SCORING.related_ratio * best.fused
    ]
    return Answer(
        answered=True,
        text=_compose(language, cited),
        language=language,
        confidence=best.confidence,
        index_version=retriever.version,
        citations=_citations(cited),
    )


def search_in_context(
    retriever: Retriever,
    question: str,
    history: Sequence[str],
    threshold: float,
    k: int,
    topic: Topic | None = None,
    language: Language | None = None,
) -> list[Hit]:
    """Search for ``question``; a follow-up is searched together with the previous question.

    A question that stands on its own (confident alone, no "it"/"that"/"那…呢") is searched
    alone, so an earlier topic never pollutes it.
    """
    # The question the conversation is about: "thanks" or "that didn't work" in between is not,
    # and after a follow-up ("and how do I load it?") it is the question that one followed.
    earlier = [h for h in history if smalltalk.kind(h) is None]
    docker_thread = any(text.names_docker(h) for h in earlier)
    alone = retriever.search(
        question, k=k, topic=topic, language=language, about_docker=docker_thread
    )
    if not earlier or retriever.strange_to(question):
        return alone  # "what about the weather?" is not a follow-up the corpus could answer
    confident = bool(alone) and alone[0].confidence >= threshold
    if confident and not text.looks_like_follow_up(question):
        return alone
    start = len(earlier) - 1
    while start > 0 and text.looks_like_follow_up(earlier[start]):
        start -= 1
    # The thread's question, then its latest follow-ups.
    context = [earlier[start], *earlier[start + 1 :][-(SCORING.max_joined - 1) :]]
    joined_text = "\n".join([*context, question])
    joined = retriever.search(joined_text, k=k, topic=topic, language=language)
    if not joined:
        return alone
    if text.asks_about_the_same(question) and joined[0].confidence >= threshold:
        return joined  # "what about X?" is the previous question, asked about X
    if confident:  # and it reads as a follow-up ("it", "then"): the conversation's reading
        # wins when it is about as sure; "do containers have their own kernel?" keeps its own.
        enough = max(threshold, alone[0].confidence - SCORING.follow_up_slack)
        return joined if joined[0].confidence >= enough else alone
    if alone and len(text.tokenize(question)) > SCORING.standalone_tokens:
        # Not sure alone, but long enough to stand alone and not worded as a follow-up: joined
        # with the previous question, it would answer that one ("how do I make two containers
        # talk without compose" after "image vs container" got compose-rebuild).
        return alone
    return joined if not alone or joined[0].confidence > alone[0].confidence else alone


def _chatter_language(message: str, history: Sequence[str]) -> Language:
    """A reply's language: Chinese when the message has Chinese; for "ok", "thx" or a thumbs-up
    in a conversation, the language of the conversation."""
    if text.has_cjk(message) or not history:
        return text.detect_language(message)
    return text.detect_language(history[-1])


def _compose(language: Language, cited: list[Hit]) -> str:
    body = _mark(cited[0].passage.text, "[1]")
    if len(cited) > 1:
        related = "; ".join(f"{h.passage.title} [{n}]" for n, h in enumerate(cited[1:], start=2))
        body += f"\n\n{RELATED[language]} {related}"
    return body


def _mark(markdown: str, marker: str) -> str:
    """Put the citation marker at the end of the first paragraph, outside any code block."""
    if markdown.startswith("```"):
        return f"{markdown}\n\n{marker}"
    first, sep, rest = markdown.partition("\n\n")
    return f"{first} {marker}{sep}{rest}"


def _refusal(language: Language, alternatives: list[Hit]) -> str:
    message = REFUSALS[language]
    if alternatives:
        lines = "\n".join(f"- {h.passage.title} [{n}]" for n, h in enumerate(alternatives, 1))
        message += f"\n\n{SUGGEST[language]}\n{lines}"
    return message


def _citations(hits: list[Hit]) -> list[Citation]:
    return [
        Citation(
            n=n,
            id=h.entry_id,
            title=h.passage.title,
            topic=h.passage.topic,
            language=h.passage.language,
            url=h.passage.url,
            snippet=snippet(h.passage.text),
            score=h.confidence,
        )
        for n, h in enumerate(hits, start=1)
    ]


# Inline Markdown, replaced by its text: `code`, **strong** or __strong__, *em* or _em_ (not
# the underscores inside mem_limit), and [text](url).
_MARKS = re.compile(
    r"`([^`]+)`|\*\*(.+?)\*\*|(?<!\w)__(.+?)__(?!\w)|(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])"
    r"|(?<!\w)_(?!\s)([^_]+?)(?<!\s)_(?!\w)|\[([^\]]+)\]\([^)\s]+\)"
)
# Marks that open a line: headings, quotes, list bullets.
_LINE_MARKS = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-+*][ \t]+)", re.MULTILINE)


@functools.lru_cache(maxsize=4096)  # the same few hundred passages, cited again and again
def snippet(markdown: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of an answer as plain text: code blocks, tables and Markdown marks removed,
    the text itself kept (``mem_limit``, ``<registry-host>`` and ``a > b`` stay as written)."""
    plain = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    plain = re.sub(r"^\s*\|.*$", " ", plain, flags=re.MULTILINE)  # tables
    for _ in range(3):  # marks inside marks: **`docker save`**
        plain, marked = _MARKS.subn(lambda m: next(g for g in m.groups() if g is not None), plain)
        if not marked:
            break
    plain = _LINE_MARKS.sub("", plain)
    plain = " ".join(plain.split())
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"

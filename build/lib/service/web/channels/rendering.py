"""How an answer reads in team chat: the labels in both languages, Markdown with numbered
source links, and cutting it to a platform's length limit with a link to the rest."""

from __future__ import annotations

from collections.abc import Callable

from service.web.schemas import MAX_MESSAGE_CHARS, ChatResponse, Citation

LABELS = {
    "en": {
        "sources": "Sources",
        "see": "See",
        "more": "Read the full answer",
        "cut": "(shortened)",
        "starting": "dockfaq is still loading its index; please ask again in a moment.",
        "empty": "Ask me a Docker question, for example: "
        "what is the difference between an image and a container?",
        "too_long": f"Please keep questions under {MAX_MESSAGE_CHARS} characters.",
        "helpful": "Helpful",
        "unhelpful": "Not helpful",
        "thanks": "Thanks for the feedback!",
    },
    "zh": {
        "sources": "来源",
        "see": "参见",
        "more": "查看完整回答",
        "cut": "（内容较长，已截断）",
        "starting": "dockfaq 正在加载索引，请稍后再问。",
        "empty": "请问一个 Docker 问题，例如：镜像和容器有什么区别？",
        "too_long": f"问题请不要超过 {MAX_MESSAGE_CHARS} 个字符。",
        "helpful": "有帮助",
        "unhelpful": "没帮助",
        "thanks": "感谢反馈！",
    },
}


def full_answer_url(public_url: str, response: ChatResponse) -> str | None:
    """Where the whole answer can be read: the entry on dockfaq's page, else its source."""
    cited = response.citations or response.alternatives
    if not cited:
        return public_url or None
    if public_url:
        return f"{public_url}/#/entry/{cited[0].id}"
    return cited[0].url


def sources(response: ChatResponse) -> list[Citation]:
    """The entries to link under the answer: its citations, or a refusal's alternatives."""
    return response.citations if response.answered else response.alternatives


def markdown(response: ChatResponse, public_url: str, limit: int) -> str:
    """The answer as chat Markdown with numbered source links, at most ``limit`` characters."""
    labels = LABELS[response.language]
    cited = sources(response)
    links = [f"[{c.n}] [{c.title}]({_link(c, public_url)})" for c in cited]
    footer = ""
    if links:
        heading = labels["sources"] if response.answered else labels["see"]
        footer = f"\n\n**{heading}:**\n" + "\n".join(f"- {link}" for link in links)
    body = fit(response.answer, limit - len(footer), response, public_url)
    return body + footer if len(body) + len(footer) <= limit else fit(body, limit, response, "")


def _link(citation: Citation, public_url: str) -> str:
    if citation.url:
        return citation.url
    return f"{public_url}/#/entry/{citation.id}" if public_url else citation.id


def markdown_link(text: str, url: str) -> str:
    return f"[{text}]({url})"


def fit(
    text: str,
    limit: int,
    response: ChatResponse,
    public_url: str,
    link: Callable[[str, str], str] = markdown_link,
) -> str:
    """``text`` itself when it fits; else cut at a paragraph, line or sentence end, with any
    open code block closed and a link to the rest, written by ``link(text, url)``."""
    if len(text) <= limit:
        return text
    labels = LABELS[response.language]
    url = full_answer_url(public_url, response)
    tail = f"\n\n… {labels['cut']}" + (f" {link(labels['more'], url)}" if url else "")
    budget = max(limit - len(tail) - len("\n```"), 0)
    head = cut(text, budget)
    if head.count("```") % 2:
        head += "\n```"
    return (head + tail)[:limit]


def cut(text: str, budget: int) -> str:
    """At most ``budget`` characters of ``text``, ending at the latest natural boundary."""
    window = text[:budget]
    for boundary in ("\n\n", "\n"):
        at = window.rfind(boundary)
        if at >= budget // 2:
            return window[:at].rstrip()
    sentence = max(window.rfind(mark) for mark in (". ", "。", "！", "？", "! ", "? "))
    if sentence >= budget // 2:
        return window[: sentence + 1].rstrip()
    space = window.rfind(" ")
    return window[:space].rstrip() if space >= budget // 2 else window.rstrip()

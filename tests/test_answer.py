from __future__ import annotations

from service.answer import REFUSALS, _mark, answer, snippet
from service.retrieval import Retriever


def test_answer_is_the_best_entry_with_marker(fake_retriever: Retriever) -> None:
    result = answer(fake_retriever, "docker中镜像和容器的区别", threshold=0.3)
    assert result.answered and result.language == "zh"
    first = result.citations[0]
    assert first.n == 1 and first.id == "image-vs-container" and first.language == "zh"
    passage = fake_retriever.passage("image-vs-container", "zh")
    assert result.text.startswith(passage.text.partition("\n\n")[0] + " [1]")
    assert result.index_version == fake_retriever.version
    assert [c.n for c in result.citations] == list(range(1, len(result.citations) + 1))
    for citation in result.citations[1:]:
        assert f"[{citation.n}]" in result.text


def test_language_override(fake_retriever: Retriever) -> None:
    result = answer(fake_retriever, "docker中镜像和容器的区别", language="en", threshold=0.3)
    assert result.language == "en" and result.citations[0].language == "en"
    assert result.text.startswith(fake_retriever.passage("image-vs-container", "en").text[:40])


def test_refusal_in_the_question_language(fake_retriever: Retriever) -> None:
    zh = answer(fake_retriever, "东南亚BCD功率集成电路市场规模")
    assert not zh.answered and zh.citations == [] and zh.text.startswith(REFUSALS["zh"])
    assert zh.alternatives == []
    en = answer(fake_retriever, "sourdough focaccia mozzarella")
    assert not en.answered and en.language == "en" and en.text.startswith(REFUSALS["en"])


def test_threshold_decides(fake_retriever: Retriever) -> None:
    question = "how to move an image to another machine"
    answered = answer(fake_retriever, question, threshold=0.0)
    assert answered.answered and 0.0 < answered.confidence < 1.0
    refused = answer(fake_retriever, question, threshold=answered.confidence + 0.001)
    assert not refused.answered
    assert refused.alternatives and refused.alternatives[0].n == 1
    assert "[1]" in refused.text


def test_marker_after_first_paragraph_not_in_code() -> None:
    assert _mark("First.\n\nSecond.", "[1]") == "First. [1]\n\nSecond."
    assert _mark("```bash\nls\n```", "[1]") == "```bash\nls\n```\n\n[1]"


def test_snippet_is_plain_and_short() -> None:
    text = "**Use** `docker save`:\n\n```bash\ndocker save img\n```\n\n- item one\n" + "word " * 100
    out = snippet(text)
    assert "```" not in out and "**" not in out and "`" not in out and "docker save img" not in out
    assert out.startswith("Use docker save: item one")
    assert len(out) <= 200 and out.endswith("…")


def test_follow_up_is_searched_with_the_previous_question(fake_retriever: Retriever) -> None:
    history = ["docker save vs docker export"]
    alone = answer(fake_retriever, "那它呢", threshold=0.3)
    assert not alone.answered  # nothing to go on
    follow = answer(fake_retriever, "那它呢", threshold=0.3, history=history)
    assert follow.answered and follow.citations[0].topic == "save-load-export-import"
    assert follow.language == "zh"


def test_a_follow_up_of_a_follow_up_keeps_the_thread(fake_retriever: Retriever) -> None:
    # Asked again and again, "那它呢" joins the question that started the thread, not itself.
    history = ["docker save vs docker export", "那它呢", "那它呢", "那它呢"]
    follow = answer(fake_retriever, "那它呢", threshold=0.3, history=history)
    assert follow.answered and follow.citations[0].topic == "save-load-export-import"
    assert not answer(fake_retriever, "那它呢", threshold=0.3, history=history[1:]).answered


def test_self_contained_question_ignores_history(fake_retriever: Retriever) -> None:
    question = "docker中镜像和容器的区别"
    fresh = answer(fake_retriever, question, threshold=0.3)
    later = answer(
        fake_retriever, question, threshold=0.3, history=["docker save vs docker export"]
    )
    assert [c.id for c in later.citations] == [c.id for c in fresh.citations]


def test_snippet_keeps_the_text_that_looks_like_markup() -> None:
    text = (
        "Set `mem_limit` and **no_new_privs** in <registry-host>/app when a > b.\n\n"
        "> A quote, *stressed* and _underlined_, see [the docs](https://docs.docker.com/).\n"
        "# Heading\n* bullet 2 * 3"
    )
    assert snippet(text) == (
        "Set mem_limit and no_new_privs in <registry-host>/app when a > b. A quote, stressed "
        "and underlined, see the docs. Heading bullet 2 * 3"
    )


def test_snippet_drops_tables() -> None:
    assert (
        snippet("Codes:\n\n| Code | Meaning |\n|---|---|\n| 0 | ok |\n\nAfter.") == "Codes: After."
    )

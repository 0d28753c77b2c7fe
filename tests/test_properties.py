"""Property-based tests (hypothesis) for corpus parsing and tokenisation: any input gives a
clear CorpusError or a valid entry, and tokenising never fails."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import corpus, text
from service.errors import CorpusError
from tests.conftest import entry_text

# A line the corpus reads as a section heading ("## en"): an answer cannot hold one.
HEADING = re.compile(r"^##[ \t]", re.MULTILINE)
PATH = Path("corpus/image-vs-container/sample-entry.md")
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text())
def test_any_text_parses_or_fails_clearly(raw: str) -> None:
    try:
        entry = corpus.parse(raw, PATH)
    except CorpusError as exc:
        assert str(exc)
    else:
        assert entry.id == "sample-entry" and set(entry.answers) == {"en", "zh"}


@FAST
@given(
    st.text(min_size=1)
    .map(lambda s: s.replace("\r", ""))
    .filter(lambda s: s.strip() and not HEADING.search(s))
)
def test_any_answer_text_round_trips(answer: str) -> None:
    """Any answer that starts no section of its own is read back exactly (stripped)."""
    entry = corpus.parse(entry_text(answer_en=answer), PATH)
    assert entry.answers["en"] == answer.strip()


@FAST
@given(st.text())
def test_tokenise_and_detect_never_fail(question: str) -> None:
    tokens = text.tokenize(question)
    assert all(t and t == t.strip() for t in tokens)
    assert not set(tokens) & text.EN_STOPWORDS
    assert text.detect_language(question) in ("en", "zh")
    readable, share = text.translate(question)
    assert 0.0 <= share <= 1.0 and isinstance(readable, str)
    assert isinstance(text.looks_like_follow_up(question), bool)

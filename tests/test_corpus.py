from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from service import corpus
from service.errors import CorpusError
from tests.conftest import entry_text, write_entry


def test_valid_entry_parses(tmp_path: Path) -> None:
    write_entry(tmp_path, answer_en="Use `docker save`.\n\n```bash\ndocker save img\n```")
    [entry] = corpus.load(tmp_path)
    assert entry.id == "sample-entry"
    assert entry.topic == "image-vs-container"
    assert entry.title == {"en": "Sample title", "zh": "示例标题"}
    assert entry.questions["zh"] == ("什么是示例？",)
    assert entry.answers["en"].startswith("Use `docker save`.")
    assert "```bash" in entry.answers["en"]
    assert entry.answers["zh"] == "一个示例答案。"
    assert entry.url == "https://docs.docker.com/reference/cli/docker/"


def test_passages_one_per_language(tmp_path: Path) -> None:
    write_entry(tmp_path)
    passages = corpus.passages(corpus.load(tmp_path))
    assert [(p.id, p.language) for p in passages] == [
        ("sample-entry#en", "en"),
        ("sample-entry#zh", "zh"),
    ]


def _broken(tmp_path: Path, text: str, name: str = "sample-entry") -> Path:
    path = tmp_path / "image-vs-container" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            entry_text().replace('title: {en: "Sample title"', "title: {en: [unclosed"),
            "invalid YAML",
        ),
        (entry_text().replace("---\nid:", "id:", 1), "missing YAML front matter"),
        (entry_text(topic="kubernetes"), "unknown topic 'kubernetes'"),
        (entry_text(topic="non-root"), "does not match its directory"),
        (entry_text(id="other-id"), "does not match the file name"),
        (entry_text(id="Not_Kebab"), "not kebab-case"),
        (entry_text().replace("## en\nA sample answer.\n", ""), "missing section '## en'"),
        (entry_text().replace("## zh\n一个示例答案。\n", ""), "missing section '## zh'"),
        (entry_text().replace("## zh\n一个示例答案。", "## zh\n"), "section '## zh' is empty"),
        (entry_text().replace("## zh", "## fr"), "unknown section '## fr'"),
        (
            entry_text().replace('  zh: ["什么是示例？"]', "  zh: []"),
            "questions.zh must not be empty",
        ),
        (entry_text().replace('  en: ["What is a sample?"]\n', ""), "questions is missing 'en'"),
        (entry_text().replace("tags: [test]", "tag: [test]"), "unknown front-matter keys: tag"),
        (
            entry_text().replace(
                'sources: ["https://docs.docker.com/reference/cli/docker/"]\n', ""
            ),
            "missing front-matter keys: sources",
        ),
        (entry_text().replace("https://docs", "ftp://docs"), "is not an http(s) URL"),
        (entry_text().replace("## en\n", "intro\n## en\n"), "must consist of"),
    ],
)
def test_malformed_entry_names_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = _broken(tmp_path, text)
    with pytest.raises(CorpusError) as error:
        corpus.load(tmp_path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)


def test_invalid_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "image-vs-container" / "sample-entry.md"
    path.parent.mkdir(parents=True)
    path.write_bytes(entry_text().encode() + b"\xff\xfe")
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        corpus.load(tmp_path)


def test_duplicate_id_names_both_files(tmp_path: Path) -> None:
    first = write_entry(tmp_path, id="same-id", topic="image-vs-container")
    second = write_entry(tmp_path, id="same-id", topic="non-root")
    with pytest.raises(CorpusError, match="duplicate id 'same-id'") as error:
        corpus.load(tmp_path)
    assert str(first) in str(error.value) and str(second) in str(error.value)


def test_unknown_topic_directory(tmp_path: Path) -> None:
    (tmp_path / "swarm").mkdir()
    with pytest.raises(CorpusError, match="unknown topic directory"):
        corpus.load(tmp_path)


def test_empty_or_missing_corpus(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no entries"):
        corpus.load(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        corpus.load(tmp_path / "nope")


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = write_entry(tmp_path)
    before = corpus.fingerprint(tmp_path)
    assert corpus.fingerprint(tmp_path) == before
    path.write_text(entry_text(answer_en="Changed."), encoding="utf-8")
    assert corpus.fingerprint(tmp_path) != before


def test_shipped_corpus_covers_every_topic(entries: list[corpus.Entry]) -> None:
    counts = Counter(e.topic for e in entries)
    assert set(counts) == set(corpus.TOPICS)
    assert len(entries) >= 160 and min(counts.values()) >= 15, counts
    for entry in entries:
        assert entry.sources and all(u.startswith("https://") for u in entry.sources)
        assert len(entry.questions["en"]) >= 3 and len(entry.questions["zh"]) >= 3
        # A chat answer, not an article: the longest troubleshooting entries walk through five
        # or six causes in about 350 words of prose (commands aside).
        prose_en = re.sub(r"```.*?```", "", entry.answers["en"], flags=re.DOTALL)
        assert len(prose_en.split()) <= 360, entry.id
        assert len(_chinese_words(entry.answers["zh"])) <= 380, entry.id
        for lang in corpus.LANGUAGES:  # commands live in fenced blocks, not loose in the prose
            prose = re.sub(r"```.*?```", "", entry.answers[lang], flags=re.DOTALL)
            assert not re.search(r"^\s*(\$ |docker |sudo )", prose, re.MULTILINE), entry.id


def _chinese_words(markdown: str) -> list[str]:
    """Words of a Chinese answer outside code blocks, as jieba segments them."""
    import jieba

    prose = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    return [w for w in jieba.lcut(prose) if re.search(r"\w", w)]

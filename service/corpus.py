"""Read and validate the curated corpus: ``corpus/<topic>/<id>.md`` -> entries."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from service.errors import CorpusError
from service.text import Language

Topic = Literal[
    "image-vs-container",
    "container-exits",
    "save-load-export-import",
    "non-root",
    "base-image",
    "image-registry",
]
TOPICS: tuple[Topic, ...] = get_args(Topic)
LANGUAGES: tuple[Language, ...] = get_args(Language)

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SECTION = re.compile(r"^##[ \t]+(\S+)[ \t]*$", re.MULTILINE)
_KEYS = {"id", "topic", "title", "questions", "sources", "tags"}
_REQUIRED = _KEYS - {"tags"}


@dataclass(frozen=True)
class Entry:
    """One curated answer, in both languages."""

    id: str
    topic: Topic
    title: dict[str, str]
    questions: dict[str, tuple[str, ...]]
    answers: dict[str, str]
    sources: tuple[str, ...]
    tags: tuple[str, ...]
    path: str

    @property
    def url(self) -> str | None:
        return self.sources[0] if self.sources else None


@dataclass(frozen=True)
class Passage:
    """The text of one entry in one language: the unit that is indexed and cited."""

    id: str
    entry_id: str
    language: Language
    topic: Topic
    title: str
    questions: tuple[str, ...]
    text: str
    url: str | None


def load(corpus_dir: Path) -> list[Entry]:
    """Load and validate every entry under ``corpus_dir``; CorpusError on the first problem."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: corpus directory does not exist")
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for path in _entry_files(corpus_dir):
        entry = parse_file(path)
        if entry.id in seen:
            raise CorpusError(f"{path}: duplicate id {entry.id!r} (also in {seen[entry.id]})")
        seen[entry.id] = str(path)
        entries.append(entry)
    if not entries:
        raise CorpusError(f"{corpus_dir}: no entries found (expected corpus/<topic>/<id>.md)")
    return entries


def require_dir(corpus_dir: Path) -> None:
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"{corpus_dir.resolve()}: no corpus directory there "
            "(set DOCKFAQ_CORPUS_DIR, or start dockfaq in the project directory)"
        )


def _entry_files(corpus_dir: Path) -> list[Path]:
    require_dir(corpus_dir)
    files = []
    for child in sorted(corpus_dir.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if child.name not in TOPICS:
            raise CorpusError(f"{child}: unknown topic directory (topics: {', '.join(TOPICS)})")
        files.extend(sorted(p for p in child.iterdir() if p.suffix == ".md"))
    return files


def parse_file(path: Path) -> Entry:
    """Parse one corpus file; every error message starts with the file's path."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        return parse(text, path)
    except CorpusError as exc:
        raise CorpusError(f"{path}: {exc}") from exc


def parse(text: str, path: Path) -> Entry:
    """Parse the text of a corpus file; ``path`` supplies the expected id and topic."""
    meta, body = _split_front_matter(text)
    unknown = set(meta) - _KEYS
    if unknown:
        raise CorpusError(f"unknown front-matter keys: {', '.join(sorted(unknown))}")
    missing = _REQUIRED - set(meta)
    if missing:
        raise CorpusError(f"missing front-matter keys: {', '.join(sorted(missing))}")
    entry_id = _string(meta["id"], "id")
    if not _ID.match(entry_id):
        raise CorpusError(f"id {entry_id!r} is not kebab-case")
    if entry_id != path.stem:
        raise CorpusError(f"id {entry_id!r} does not match the file name {path.name!r}")
    topic = _string(meta["topic"], "topic")
    if topic not in TOPICS:
        raise CorpusError(f"unknown topic {topic!r} (topics: {', '.join(TOPICS)})")
    if path.parent.name != topic:
        raise CorpusError(f"topic {topic!r} does not match its directory {path.parent.name!r}")
    return Entry(
        id=entry_id,
        topic=topic,
        title={
            lang: _string(v, f"title.{lang}") for lang, v in _per_language(meta, "title").items()
        },
        questions={
            lang: _strings(v, f"questions.{lang}")
            for lang, v in _per_language(meta, "questions").items()
        },
        answers=_sections(body),
        sources=_sources(meta["sources"]),
        tags=_strings(meta.get("tags") or [], "tags", allow_empty=True),
        path=str(path),
    )


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    text = text.removeprefix("\ufeff")
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n(.*)$", text, re.DOTALL)
    if not match:
        raise CorpusError("missing YAML front matter (the file must start with a '---' block)")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise CorpusError(f"invalid YAML front matter: {exc}".replace("\n", " ")) from exc
    if not isinstance(meta, dict):
        raise CorpusError("front matter must be a YAML mapping")
    return meta, match.group(2).replace("\r\n", "\n")


def _sections(body: str) -> dict[str, str]:
    heads = list(_SECTION.finditer(body))
    if not heads or body[: heads[0].start()].strip():
        raise CorpusError("the body must consist of a '## en' and a '## zh' section")
    sections: dict[str, str] = {}
    for i, head in enumerate(heads):
        lang = head.group(1)
        if lang not in LANGUAGES:
            raise CorpusError(f"unknown section '## {lang}' (expected '## en' and '## zh')")
        if lang in sections:
            raise CorpusError(f"section '## {lang}' appears twice")
        end = heads[i + 1].start() if i + 1 < len(heads) else len(body)
        content = body[head.end() : end].strip()
        if not content:
            raise CorpusError(f"section '## {lang}' is empty")
        sections[lang] = content
    for lang in LANGUAGES:
        if lang not in sections:
            raise CorpusError(f"missing section '## {lang}'")
    return sections


def _per_language(meta: dict[str, Any], key: str) -> dict[str, Any]:
    value = meta[key]
    if not isinstance(value, dict):
        raise CorpusError(f"{key} must be a mapping with 'en' and 'zh'")
    extra = set(value) - set(LANGUAGES)
    if extra:
        raise CorpusError(f"{key} has unknown languages: {', '.join(sorted(map(str, extra)))}")
    for lang in LANGUAGES:
        if lang not in value:
            raise CorpusError(f"{key} is missing '{lang}'")
    return value


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CorpusError(f"{name} must be a non-empty string")
    return value.strip()


def _strings(value: Any, name: str, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise CorpusError(f"{name} must be a list")
    if not value and not allow_empty:
        raise CorpusError(f"{name} must not be empty")
    return tuple(_string(item, f"{name}[{i}]") for i, item in enumerate(value))


def _sources(value: Any) -> tuple[str, ...]:
    urls = _strings(value, "sources")
    for url in urls:
        if not re.match(r"^https?://\S+$", url):
            raise CorpusError(f"sources: {url!r} is not an http(s) URL")
    return urls


def passages(entries: list[Entry]) -> list[Passage]:
    """One passage per entry and language, in corpus order."""
    return [
        Passage(
            id=f"{e.id}#{lang}",
            entry_id=e.id,
            language=lang,
            topic=e.topic,
            title=e.title[lang],
            questions=e.questions[lang],
            text=e.answers[lang],
            url=e.url,
        )
        for e in entries
        for lang in LANGUAGES
    ]


def fingerprint(corpus_dir: Path) -> str:
    """sha256 over every entry file's relative path and bytes: changes whenever the corpus does."""
    digest = hashlib.sha256()
    for path in _entry_files(corpus_dir):
        digest.update(path.relative_to(corpus_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()

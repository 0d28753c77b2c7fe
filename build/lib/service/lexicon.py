"""Inverted lists over an index's entries: which entries hold a word or a term, and how rare it
is. Built once by `dockfaq build` and stored with the index, so a server starts without
re-reading every passage (at 100 000 passages that took half a minute)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from service import text
from service.corpus import Passage


@dataclass
class Lexicon:
    """Items (words or terms) and, for each, the positions of the entries that hold it."""

    rows: dict[str, int]  # item -> row
    offsets: np.ndarray  # row r's entries are holders[offsets[r] : offsets[r + 1]]
    holders: np.ndarray  # entry positions, ascending within a row
    entries: int  # how many entries there are
    # Each row's inverse document frequency: log(1 + entries / entries holding it).
    idf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.idf = np.log1p(self.entries / np.maximum(np.diff(self.offsets), 1))

    @classmethod
    def of(cls, sets: list[set[str]]) -> Lexicon:
        """The lexicon of ``sets``: ``sets[i]`` holds the items of entry ``i``."""
        lists: dict[str, list[int]] = {}
        for position, held in enumerate(sets):
            for item in held:
                lists.setdefault(item, []).append(position)
        items = sorted(lists)
        sizes = np.fromiter((len(lists[i]) for i in items), dtype=np.int64, count=len(items))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        holders = np.fromiter(
            (p for i in items for p in lists[i]), dtype=np.int32, count=int(offsets[-1])
        )
        return cls({item: row for row, item in enumerate(items)}, offsets, holders, len(sets))

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, item: object) -> bool:
        return item in self.rows

    def holding(self, item: str) -> np.ndarray | None:
        """The entries that hold ``item``, or None when none does."""
        row = self.rows.get(item)
        if row is None:
            return None
        return self.holders[self.offsets[row] : self.offsets[row + 1]]

    def weights(self, items: Iterable[str], unknown: float) -> dict[str, float]:
        """The IDF of each item; ``unknown`` for one no entry holds."""
        return {
            item: float(self.idf[row]) if (row := self.rows.get(item)) is not None else unknown
            for item in items
        }

    def save(self, directory: Path, name: str) -> None:
        items = sorted(self.rows, key=self.rows.__getitem__)
        (directory / f"{name}.json").write_text(
            json.dumps({"entries": self.entries, "items": items}, ensure_ascii=False),
            encoding="utf-8",
        )
        np.savez(directory / f"{name}.npz", offsets=self.offsets, holders=self.holders)

    @classmethod
    def load(cls, directory: Path, name: str) -> Lexicon:
        head = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        with np.load(directory / f"{name}.npz") as arrays:
            offsets, holders = arrays["offsets"], arrays["holders"]
        items = head["items"]
        if len(offsets) != len(items) + 1 or int(offsets[-1]) != len(holders):
            raise ValueError(f"{name}: {len(items)} items but {len(offsets) - 1} posting lists")
        rows = {item: row for row, item in enumerate(items)}
        return cls(rows, offsets, holders, int(head["entries"]))


def entry_ids(passages: list[Passage]) -> list[str]:
    """Entries in corpus order: an entry's position is its place in this list."""
    return list(dict.fromkeys(p.entry_id for p in passages))


def build(passages: list[Passage], tokens: list[list[str]]) -> tuple[Lexicon, Lexicon]:
    """The lexicons of words (each passage's ``tokens``) and of exact terms (technical terms
    and word 3-grams, so that an error message typed verbatim matches) per entry."""
    position = {entry_id: i for i, entry_id in enumerate(entry_ids(passages))}
    words: list[set[str]] = [set() for _ in position]
    terms: list[set[str]] = [set() for _ in position]
    for passage, passage_tokens in zip(passages, tokens, strict=True):
        i = position[passage.entry_id]
        full = " ".join([passage.title, *passage.questions, passage.text])
        words[i].update(passage_tokens)
        terms[i].update(text.terms(full) | text.phrases(full))
    return Lexicon.of(words), Lexicon.of(terms)

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from service import engine, lexicon, store, text
from service.errors import IndexNotBuilt
from service.lexicon import Lexicon
from tests.conftest import CORPUS, FakeEmbedder

SETS = [{"docker", "image"}, {"image", "container"}, set(), {"docker", "exit 137"}]


def test_lexicon_lists_holders_and_idf() -> None:
    words = Lexicon.of(SETS)
    assert len(words) == 4 and "image" in words and "volume" not in words
    assert words.holding("image").tolist() == [0, 1]
    assert words.holding("exit 137").tolist() == [3]
    assert words.holding("volume") is None
    weights = words.weights({"docker", "container", "volume"}, unknown=9.0)
    assert weights == pytest.approx(
        {"docker": math.log(1 + 4 / 2), "container": math.log(1 + 4 / 1), "volume": 9.0}
    )


def test_lexicon_round_trip(tmp_path: Path) -> None:
    words = Lexicon.of(SETS)
    words.save(tmp_path, "words")
    loaded = Lexicon.load(tmp_path, "words")
    assert loaded.rows == words.rows and loaded.entries == 4
    assert np.array_equal(loaded.offsets, words.offsets)
    assert np.array_equal(loaded.holders, words.holders)
    assert np.array_equal(loaded.idf, words.idf)


def test_stored_lexicons_match_the_corpus(fake_index_dir: Path) -> None:
    """What the server loads is what reading every passage gives: each entry's words are its
    passages' tokens, its terms their technical terms and 3-grams."""
    index = store.load(fake_index_dir, FakeEmbedder())
    ids = lexicon.entry_ids(index.passages)
    words: dict[str, set[str]] = {i: set() for i in ids}
    terms: dict[str, set[str]] = {i: set() for i in ids}
    for passage, tokens in zip(index.passages, index.tokens, strict=True):
        full = " ".join([passage.title, *passage.questions, passage.text])
        words[passage.entry_id].update(tokens)
        terms[passage.entry_id].update(text.terms(full) | text.phrases(full))
    for stored, wanted in ((index.words, words), (index.terms, terms)):
        assert stored.entries == len(ids)
        held: dict[str, set[str]] = {i: set() for i in ids}
        for item in stored.rows:
            for position in stored.holding(item).tolist():
                held[ids[position]].add(item)
        assert held == wanted
    assert "docker save" in index.terms and "镜像" in index.words


def test_damaged_lexicon_is_refused(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    engine.build_index(CORPUS, index_dir, FakeEmbedder())
    (index_dir / "lexicon-terms.npz").write_bytes(b"not numpy")
    with pytest.raises(IndexNotBuilt, match="incomplete"):
        store.load(index_dir, FakeEmbedder())
    engine.build_index(CORPUS, index_dir, FakeEmbedder())
    (index_dir / "lexicon-words.json").write_text('{"entries": 3, "items": []}')
    with pytest.raises(IndexNotBuilt, match="incomplete"):
        store.load(index_dir, FakeEmbedder())

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service import engine
from service.cli import app
from service.conversations import EntryVote, Feedback, SQLiteStore, Turn
from service.suggest import candidates, group
from tests.conftest import FakeEmbedder


def _seed(path: Path) -> None:
    store = SQLiteStore(path)
    rows = [
        ("kubernetes ingress controller setup", False, 0.1),
        ("kubernetes ingress controller tls", False, 0.2),
        ("kubernetes ingress controller setup please", False, 0.15),
        ("docker swarm init manager", False, 0.2),
        ("docker save vs docker export", True, 0.95),  # well answered: not listed
        ("docker export keeps history?", True, 0.5),  # just above the threshold
        ("docker save tags", True, 0.9),  # thumbs down below
        ("thanks!", False, 0.0),  # small talk: refused, but no gap in the corpus
    ]
    for n, (question, answered, confidence) in enumerate(rows):
        store.add_turn(
            Turn(
                f"m{n}",
                "c",
                question,
                "en",
                answered,
                confidence,
                "save-vs-export" if answered else None,
                None,
                float(n),
            )
        )
    store.add_feedback(Feedback("m6", "down", "wrong", 7.0))
    store.close()


def test_candidates_and_groups(tmp_path: Path) -> None:
    _seed(tmp_path / "db.sqlite3")
    store = SQLiteStore(tmp_path / "db.sqlite3")
    items = candidates(store, threshold=0.46)
    reasons = {turn.question: reason for turn, reason in items}
    assert reasons == {
        "kubernetes ingress controller setup": "refused",
        "kubernetes ingress controller tls": "refused",
        "kubernetes ingress controller setup please": "refused",
        "docker swarm init manager": "refused",
        "docker export keeps history?": "low confidence",
        "docker save tags": "thumbs down",
    }
    groups = group(items, FakeEmbedder())
    assert groups[0].size == 3 and groups[0].reasons == {"refused": 3}
    assert all("kubernetes" in q for q in groups[0].questions)
    assert sum(g.size for g in groups) == len(items)


def test_suggest_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(tmp_path / "dockfaq.sqlite3")
    monkeypatch.setenv("DOCKFAQ_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(engine, "embedder", lambda settings: FakeEmbedder())
    result = CliRunner().invoke(app, ["suggest"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("1. 3 question(s) (3 refused)")
    assert "thumbs down" in result.output


def test_suggest_lists_entries_voted_unhelpful(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "dockfaq.sqlite3")
    for entry_id, rating, comment in [
        ("exit-codes", "down", "137 is not explained"),
        ("exit-codes", "down", None),
        ("exit-codes", "up", None),
        ("save-vs-export", "up", "clear"),
        ("oom-killed", "down", None),
    ]:
        store.add_entry_vote(EntryVote(entry_id, rating, comment, 1.0))
    store.close()
    monkeypatch.setenv("DOCKFAQ_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["suggest"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:] == [
        "  exit-codes: 2 down, 1 up",
        "     137 is not explained",
        "  oom-killed: 1 down, 0 up",
    ]


def test_suggest_with_nothing_to_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKFAQ_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["suggest"])
    assert result.exit_code == 0 and "nothing to review" in result.output


def test_suggest_shows_control_characters_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "dockfaq.sqlite3")
    hostile = "docker \x1b[2J\x1b]0;pwned\x07 save\rfake line\u202etxt.exe\nsecond line"
    store.add_turn(Turn("m1", "c", hostile, "en", False, 0.1, None, None, 1.0))
    store.close()
    monkeypatch.setenv("DOCKFAQ_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(engine, "embedder", lambda settings: FakeEmbedder())
    result = CliRunner().invoke(app, ["suggest"])
    assert result.exit_code == 0, result.output
    assert not any(c in result.output for c in "\x1b\x07\r\u202e")
    assert "docker \\x1b[2J\\x1b]0;pwned\\x07 save\\rfake line\\u202etxt.exe\\nsecond line" in (
        result.output
    )

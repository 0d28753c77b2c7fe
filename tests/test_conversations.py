from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from service.conversations import (
    BUSY_PAUSES_S,
    ConversationStore,
    EntryVote,
    Feedback,
    RedisStore,
    SQLiteStore,
    Turn,
    open_store,
)
from service.errors import ConfigError
from tests.conftest import free_port


def _turn(n: int, conversation: str = "c1") -> Turn:
    return Turn(f"m{n}", conversation, f"question {n}", "en", n % 2 == 0, 0.5, "e", "t", float(n))


def _exercise(store: ConversationStore) -> None:
    for n in range(1, 8):
        store.add_turn(_turn(n))
    store.add_turn(_turn(99, conversation="c2"))
    assert [t.message_id for t in store.history("c1", limit=3)] == ["m5", "m6", "m7"]
    assert store.history("unknown") == []
    assert store.turn("m2") == _turn(2)
    assert store.turn("nope") is None
    assert {t.message_id for t in store.turns()} >= {"m1", "m7", "m99"}
    store.add_feedback(Feedback("m2", "down", "wrong entry", 1.0))
    store.add_feedback(Feedback("m3", "up", None, 2.0))
    assert [(f.message_id, f.rating, f.comment) for f in store.feedback()][-2:] == [
        ("m2", "down", "wrong entry"),
        ("m3", "up", None),
    ]
    store.add_feedback(Feedback("m2", "up", "changed my mind", 3.0))  # replaces the first vote
    votes = {f.message_id: (f.rating, f.comment) for f in store.feedback()}
    assert votes["m2"] == ("up", "changed my mind") and votes["m3"] == ("up", None)
    assert [f.message_id for f in store.feedback()].count("m2") == 1
    store.add_entry_vote(EntryVote("exit-codes", "down", "no 137", 4.0))
    store.add_entry_vote(EntryVote("exit-codes", "up", None, 5.0))  # every vote is kept
    assert store.entry_votes()[-2:] == [
        EntryVote("exit-codes", "down", "no 137", 4.0),
        EntryVote("exit-codes", "up", None, 5.0),
    ]
    owned = Turn(
        "m50", "c3", "q", "zh", True, 0.9, "e", "t", 50.0, "k" * 32, "答案 [1]", '[{"n": 1}]'
    )
    store.add_turn(owned)
    assert store.turn("m50") == owned and store.history("c3") == [owned]
    event = uuid.uuid4().hex
    assert store.claim(event, 60) is True
    assert store.claim(event, 60) is False  # a redelivery
    assert store.claim(f"{event}-other", 60) is True


def test_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    _exercise(store)
    store.close()
    again = SQLiteStore(tmp_path / "db.sqlite3")
    assert len(again.history("c1", limit=100)) == 7 and len(again.feedback()) == 2
    assert len(again.entry_votes()) == 2
    again.close()


def test_sqlite_database_of_an_earlier_version_is_upgraded(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "db.sqlite3")
    old.executescript(
        "CREATE TABLE turns (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL "
        "UNIQUE, conversation_id TEXT NOT NULL, question TEXT NOT NULL, language TEXT NOT NULL, "
        "answered INTEGER NOT NULL, confidence REAL NOT NULL, entry_id TEXT, topic TEXT, "
        "created_at REAL NOT NULL);"
        "INSERT INTO turns (message_id, conversation_id, question, language, answered, "
        "confidence, entry_id, topic, created_at) VALUES ('m1', 'c1', 'q', 'en', 1, 0.9, "
        "'e', 't', 1.0);"
    )
    old.commit()
    old.close()
    store = SQLiteStore(tmp_path / "db.sqlite3")
    assert store.turn("m1") == Turn("m1", "c1", "q", "en", True, 0.9, "e", "t", 1.0)
    store.add_turn(_turn(2))
    assert [t.message_id for t in store.history("c1")] == ["m1", "m2"]
    store.close()


def test_sqlite_claims_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    monkeypatch.setattr("service.conversations.now", lambda: 1000.0)
    assert store.claim("event", 60) and not store.claim("event", 60)
    monkeypatch.setattr("service.conversations.now", lambda: 1061.0)
    assert store.claim("event", 60)  # expired: claimable again, and the table stays small
    assert store._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 1
    store.close()


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # NORMAL (1) for turns: no fsync per answer; feedback is committed with FULL, then back.
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.add_feedback(Feedback("m1", "up", None, 1.0))
    store._db.set_trace_callback(None)
    insert = next(i for i, sql in enumerate(statements) if sql.startswith("INSERT INTO feedback"))
    commit = statements.index("COMMIT", insert)
    assert "PRAGMA synchronous=FULL" in statements[:insert], statements
    assert "PRAGMA synchronous=NORMAL" in statements[commit:], statements
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    store.close()


def _holding_the_write_lock(path: Path) -> sqlite3.Connection:
    """Another worker in the middle of a write: its transaction holds the database's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO claims (key, expires_at) VALUES ('other', 1e12)")
    return other


@pytest.mark.parametrize("answer", ["", "an answer not stored before"])
def test_a_write_waits_for_another_workers_lock_in_short_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    # SQLite's own busy handler sleeps a millisecond and more, on the event loop, while the other
    # worker's write takes about 0.1 ms. The store tries again after short pauses instead.
    store = SQLiteStore(tmp_path / "db.sqlite3")
    other = _holding_the_write_lock(tmp_path / "db.sqlite3")
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == len(BUSY_PAUSES_S) + 2:
            other.execute("COMMIT")  # the other worker's write ends, after every pause length

    monkeypatch.setattr("service.conversations.time.sleep", pause)
    turn = Turn("m1", "c1", "q", "en", bool(answer), 0.5, "e", "t", 1.0, "", answer, "[]")
    store.add_turn(turn)
    assert store.turn("m1") == turn
    assert pauses == [*BUSY_PAUSES_S, BUSY_PAUSES_S[-1], BUSY_PAUSES_S[-1]]
    assert max(pauses) <= 0.001
    assert store.claim("mine", 60) and len(pauses) == len(BUSY_PAUSES_S) + 2  # free: no pause
    store.close()
    other.close()


def test_a_write_gives_up_when_another_worker_never_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    other = _holding_the_write_lock(tmp_path / "db.sqlite3")
    monkeypatch.setattr("service.conversations.BUSY_WAIT_S", 0.05)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.add_turn(Turn("m1", "c1", "q", "en", True, 0.5, "e", "t", 1.0, "", "new", "[]"))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.add_feedback(Feedback("m1", "up", None, 1.0))
    other.execute("ROLLBACK")
    # Nothing half-written: neither the answer nor the turn; and the store works again.
    assert store._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 0
    assert store.turn("m1") is None and store.feedback() == []
    store.add_feedback(Feedback("m1", "up", None, 1.0))
    assert len(store.feedback()) == 1
    store.close()
    other.close()


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="conversation database"):
        SQLiteStore(blocker / "sub" / "db.sqlite3")


def test_redis_store(redis_url: str) -> None:
    store = open_store(Path("unused"), redis_url, ttl_seconds=60)
    assert isinstance(store, RedisStore)
    _exercise(store)
    ttl = store._redis.ttl("dockfaq:conversation:c1")
    assert 0 < ttl <= 60
    store.close()


def test_redis_unreachable_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="Redis"):
        RedisStore(f"redis://127.0.0.1:{free_port()}/0", 60)

"""Conversation memory and feedback: embedded SQLite by default, Redis when configured."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, astuple, dataclass, fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from service.errors import ConfigError
from service.text import Language

T = TypeVar("T")

HISTORY_TURNS = 20  # per conversation; older turns are dropped


@dataclass(frozen=True)
class Turn:
    """One question of a conversation and what dockfaq answered."""

    message_id: str
    conversation_id: str
    question: str
    language: Language
    answered: bool
    confidence: float
    entry_id: str | None  # the entry that answered (citations[0]), or None
    topic: str | None
    created_at: float
    # Who may continue the conversation and vote on its answers: a hash of the API key that
    # started it, "" when keys are off, a platform's name for a chat platform's conversations.
    owner: str = ""
    answer: str = ""  # the Markdown reply, as sent
    citations: str = "[]"  # the reply's citations, as JSON


@dataclass(frozen=True)
class Feedback:
    message_id: str
    rating: str  # "up" | "down"
    comment: str | None
    created_at: float


@dataclass(frozen=True)
class EntryVote:
    """ "Was this helpful?" on a FAQ entry's page: every vote is kept."""

    entry_id: str
    rating: str  # "up" | "down"
    comment: str | None
    created_at: float


class ConversationStore(Protocol):
    """Where turns and feedback live; every implementation behaves the same."""

    local: bool  # True when calls are fast enough to make on the event loop

    def add_turn(self, turn: Turn) -> None: ...

    def history(self, conversation_id: str, limit: int = 5) -> list[Turn]: ...

    def turn(self, message_id: str) -> Turn | None: ...

    def turns(self) -> Iterator[Turn]: ...

    def add_feedback(self, feedback: Feedback) -> None:
        """Record a vote; a later vote on the same message replaces the earlier one."""
        ...

    def feedback(self) -> list[Feedback]: ...

    def add_entry_vote(self, vote: EntryVote) -> None: ...

    def entry_votes(self) -> list[EntryVote]: ...

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """True for the first caller to claim ``key`` within ``ttl_seconds``, False after.

        Chat platforms redeliver events; claiming the event id answers each one once,
        across every replica sharing the store.
        """
        ...

    def close(self) -> None: ...


def open_store(data_dir: Path, redis_url: str, ttl_seconds: int) -> ConversationStore:
    """The Redis store when ``redis_url`` is set, else SQLite in ``data_dir``."""
    if redis_url:
        return RedisStore(redis_url, ttl_seconds)
    return SQLiteStore(data_dir / "dockfaq.sqlite3")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    question TEXT NOT NULL,
    language TEXT NOT NULL,
    answered INTEGER NOT NULL,
    confidence REAL NOT NULL,
    entry_id TEXT,
    topic TEXT,
    created_at REAL NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    answer_id TEXT NOT NULL DEFAULT ''
);
-- Answer texts, once each: most turns repeat an answer given before (the cache path), and a
-- reply of a few KB written with every turn spills into overflow pages of the WAL.
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation_id, seq);
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    rating TEXT NOT NULL,
    comment TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entry_votes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL,
    rating TEXT NOT NULL,
    comment TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""
# Turn's fields as stored: every column of turns, then the answer's two from answers.
_STORED = [f.name for f in fields(Turn) if f.name not in ("answer", "citations")]
_TURN_COLUMNS = ", ".join(f"t.{name}" for name in _STORED)
_SELECT_TURNS = (
    f"SELECT {_TURN_COLUMNS}, COALESCE(a.answer, ''), COALESCE(a.citations, '[]') "
    "FROM turns t LEFT JOIN answers a ON a.id = t.answer_id"
)
# Answer ids remembered as stored, at most (then forgotten, and stored again: INSERT OR IGNORE).
_KNOWN_ANSWERS = 50_000

_INSERT_TURN = (
    f"INSERT INTO turns ({', '.join(_STORED)}, answer_id) "
    f"VALUES ({', '.join('?' for _ in _STORED)}, ?)"
)

_ADDED_COLUMNS = {
    "owner": "TEXT NOT NULL DEFAULT ''",
    "answer_id": "TEXT NOT NULL DEFAULT ''",
}


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Databases written by earlier versions: their turns belong to nobody ("") and kept no
    answer text."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in columns:
            db.execute(f"ALTER TABLE turns ADD COLUMN {name} {kind}")


class SQLiteStore:
    """A file in the data directory, in WAL mode; every write is committed before it returns."""

    local = True  # calls take microseconds: fine on the event loop

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=BUSY_WAIT_S, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL (in WAL mode): a committed turn survives a crash of the process (kill -9)
            # without an fsync per answer, which would cap the server at a few hundred answers
            # a second; only a power cut can lose the last turns. Feedback is written with FULL.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _add_missing_columns(self._db)
            # From here on a busy database is waited for by `_busy_retried`, not by SQLite.
            self._db.execute("PRAGMA busy_timeout=0")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the conversation database {path}: {exc}") from exc
        self._lock = threading.Lock()
        # Answers committed by this store (rows are never deleted): a repeated answer's turn
        # is then a single INSERT.
        self._stored_answers: set[str] = set()

    def add_turn(self, turn: Turn) -> None:
        row = tuple(getattr(turn, name) for name in _STORED)  # astuple deep-copies: slow
        answer_id = ""
        if turn.answer:
            digest = hashlib.sha256(f"{turn.answer}\0{turn.citations}".encode())
            answer_id = digest.hexdigest()[:32]
        with self._lock:
            if not answer_id or answer_id in self._stored_answers:
                self._execute(_INSERT_TURN, (*row, answer_id))  # one statement, one commit
                return
            self._transaction(
                (
                    "INSERT OR IGNORE INTO answers (id, answer, citations) VALUES (?, ?, ?)",
                    (answer_id, turn.answer, turn.citations),
                ),
                (_INSERT_TURN, (*row, answer_id)),
            )
            if len(self._stored_answers) >= _KNOWN_ANSWERS:
                self._stored_answers.clear()
            self._stored_answers.add(answer_id)

    def _execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """One statement (committed on its own), tried again while the database is busy."""
        return _busy_retried(lambda: self._db.execute(sql, parameters))

    def _transaction(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Statements in one commit: all land or none. ``BEGIN IMMEDIATE`` takes the write lock
        first, so a busy database shows there, and the whole transaction is tried again."""

        def run() -> None:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, parameters in statements:
                    self._db.execute(sql, parameters)

        _busy_retried(run)

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return _busy_retried(lambda: self._db.execute(sql, parameters).fetchall())

    def history(self, conversation_id: str, limit: int = 5) -> list[Turn]:
        rows = self._rows(
            f"{_SELECT_TURNS} WHERE t.conversation_id = ? ORDER BY t.seq DESC LIMIT ?",
            (conversation_id, limit),
        )
        return [_turn(row) for row in reversed(rows)]

    def turn(self, message_id: str) -> Turn | None:
        rows = self._rows(f"{_SELECT_TURNS} WHERE t.message_id = ?", (message_id,))
        return _turn(rows[0]) if rows else None

    def turns(self) -> Iterator[Turn]:
        rows = self._rows(f"{_SELECT_TURNS} ORDER BY t.seq")
        return (_turn(row) for row in rows)

    def add_feedback(self, feedback: Feedback) -> None:
        with self._lock, self._synced():
            self._transaction(  # the old vote goes only if the new one lands
                ("DELETE FROM feedback WHERE message_id = ?", (feedback.message_id,)),
                (
                    "INSERT INTO feedback (message_id, rating, comment, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    astuple(feedback),
                ),
            )

    def feedback(self) -> list[Feedback]:
        rows = self._rows(
            "SELECT message_id, rating, comment, created_at FROM feedback ORDER BY seq"
        )
        return [Feedback(*row) for row in rows]

    def add_entry_vote(self, vote: EntryVote) -> None:
        with self._lock, self._synced():
            self._execute(
                "INSERT INTO entry_votes (entry_id, rating, comment, created_at) "
                "VALUES (?, ?, ?, ?)",
                astuple(vote),
            )

    @contextlib.contextmanager
    def _synced(self) -> Iterator[None]:
        """Votes are rare and precious: written with FULL, synced to disk before they return
        (turns keep NORMAL)."""
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    def entry_votes(self) -> list[EntryVote]:
        rows = self._rows(
            "SELECT entry_id, rating, comment, created_at FROM entry_votes ORDER BY seq"
        )
        return [EntryVote(*row) for row in rows]

    def claim(self, key: str, ttl_seconds: int) -> bool:
        moment = now()
        with self._lock:
            self._execute("DELETE FROM claims WHERE expires_at <= ?", (moment,))
            cursor = self._execute(
                "INSERT OR IGNORE INTO claims (key, expires_at) VALUES (?, ?)",
                (key, moment + ttl_seconds),
            )
        return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


# How long a statement waits for another process's write, as sqlite3's default timeout did.
BUSY_WAIT_S = 5.0
# The pauses between tries, then the last one repeated. A write here takes about 0.1 ms, so the
# lock is usually free again within a few of them. SQLite's own busy handler sleeps 1 ms at
# least, then longer, on the event loop: with two workers writing a few thousand turns a second,
# one write in ten waited a millisecond or more while the worker had nothing else to do.
BUSY_PAUSES_S = (0.0, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005)


def _busy_retried(statement: Callable[[], T]) -> T:
    """``statement()``, tried again while another process holds the database's write lock
    (SQLITE_BUSY), for up to BUSY_WAIT_S; then the last error is raised."""
    deadline = time.monotonic() + BUSY_WAIT_S
    tries = 0
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(BUSY_PAUSES_S[min(tries, len(BUSY_PAUSES_S) - 1)])
        tries += 1


def _turn(row: tuple[Any, ...]) -> Turn:
    values = list(row)
    values[4] = bool(values[4])
    return Turn(*values)


class RedisStore:
    """Shared by every server process: conversations expire after ``ttl_seconds`` idle."""

    local = False  # network round trips: only from worker threads

    def __init__(self, url: str, ttl_seconds: int) -> None:
        import redis

        try:
            self._redis = redis.Redis.from_url(url, decode_responses=True)
            self._redis.ping()
        except (redis.RedisError, ValueError) as exc:
            raise ConfigError(f"cannot reach Redis at DOCKFAQ_REDIS_URL: {exc}") from exc
        self._ttl = ttl_seconds

    def add_turn(self, turn: Turn) -> None:
        record = json.dumps(vars(turn), ensure_ascii=False)
        key = f"dockfaq:conversation:{turn.conversation_id}"
        pipe = self._redis.pipeline()
        pipe.rpush(key, record)
        pipe.ltrim(key, -HISTORY_TURNS, -1)
        pipe.expire(key, self._ttl)
        pipe.set(f"dockfaq:message:{turn.message_id}", record, ex=self._ttl)
        pipe.execute()

    def history(self, conversation_id: str, limit: int = 5) -> list[Turn]:
        records = self._redis.lrange(f"dockfaq:conversation:{conversation_id}", -limit, -1)
        return [Turn(**json.loads(r)) for r in records]

    def turn(self, message_id: str) -> Turn | None:
        record = self._redis.get(f"dockfaq:message:{message_id}")
        return Turn(**json.loads(record)) if record else None

    def turns(self) -> Iterator[Turn]:
        for key in self._redis.scan_iter("dockfaq:message:*"):
            record = self._redis.get(key)
            if record:
                yield Turn(**json.loads(record))

    def add_feedback(self, feedback: Feedback) -> None:
        # Feedback has no expiry: curators read it long after the conversation is gone. One
        # vote per message: a hash field per message id.
        record = json.dumps(asdict(feedback), ensure_ascii=False)
        self._redis.hset("dockfaq:votes", feedback.message_id, record)

    def feedback(self) -> list[Feedback]:
        # "dockfaq:feedback" holds the votes of versions that kept every vote in a list.
        records = self._redis.lrange("dockfaq:feedback", 0, -1)
        records += list(self._redis.hvals("dockfaq:votes"))
        votes = [Feedback(**json.loads(r)) for r in records]
        return sorted(votes, key=lambda vote: vote.created_at)

    def add_entry_vote(self, vote: EntryVote) -> None:
        self._redis.rpush("dockfaq:entry-votes", json.dumps(asdict(vote), ensure_ascii=False))

    def entry_votes(self) -> list[EntryVote]:
        records = self._redis.lrange("dockfaq:entry-votes", 0, -1)
        return [EntryVote(**json.loads(r)) for r in records]

    def claim(self, key: str, ttl_seconds: int) -> bool:
        return bool(self._redis.set(f"dockfaq:claim:{key}", "1", nx=True, ex=ttl_seconds))

    def close(self) -> None:
        self._redis.close()


def now() -> float:
    return time.time()

"""What the bot remembers of its conversations, in one SQLite file (WAL) under INDEX_DIR.

- exchanges: each answer the bot sent (by its message id): the question, how it went, the paragraphs
  it quoted, where and when; follow-ups and /insights read them. Members only as a salted hash.
- votes: 👍/👎 on an answer, one per member per answer (a second click changes it).
- servers: each server's /config (ask channel, forums).

Kept KEEP_QUESTIONS_DAYS days (server settings are kept until the server is forgotten). Synchronous
and used from one thread only (see ConversationService), so there is one writer and the event loop
never waits on the disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from citebot.index.answer import Answer, Exchange

T = TypeVar("T")

FILE_NAME = "conversations.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exchanges (
    message_id INTEGER PRIMARY KEY,   -- the bot's answer message
    server_id INTEGER,                -- NULL in DMs
    channel_id INTEGER NOT NULL,      -- the channel or thread it was sent in
    member TEXT NOT NULL,             -- salted hash of the asking member's id
    question TEXT NOT NULL,
    outcome TEXT NOT NULL,            -- answered | uncertain | abstained | summary
    paragraphs TEXT NOT NULL,         -- JSON [[document key, paragraph index], ...]
    asked_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_by_server ON exchanges (server_id, asked_at);
CREATE INDEX IF NOT EXISTS exchanges_by_channel ON exchanges (channel_id, asked_at);
CREATE TABLE IF NOT EXISTS votes (
    message_id INTEGER NOT NULL,
    member TEXT NOT NULL,
    server_id INTEGER,
    vote INTEGER NOT NULL,            -- +1 or -1
    voted_at REAL NOT NULL,
    PRIMARY KEY (message_id, member)
);
CREATE INDEX IF NOT EXISTS votes_by_server ON votes (server_id, voted_at);
CREATE TABLE IF NOT EXISTS servers (
    server_id INTEGER PRIMARY KEY,
    ask_channel INTEGER,
    forums TEXT NOT NULL DEFAULT '[]'
);
"""

DAY = 86_400.0


def outcome_of(answer: Answer) -> str:
    if answer.summary:
        return "summary"
    if answer.abstained:
        return "abstained"
    return "uncertain" if answer.uncertain else "answered"


@dataclass(frozen=True)
class Asked:
    """One question as /insights counts it."""

    question: str
    outcome: str
    message_id: int
    downvotes: int = 0
    upvotes: int = 0


@dataclass(frozen=True)
class ServerConfig:
    ask_channel: int | None = None
    forums: frozenset[int] = field(default_factory=frozenset)


class ConversationStore:
    """The SQLite file: one connection, used from one thread."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(32),))
        (salt,) = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        self._salt = bytes.fromhex(salt)

    def close(self) -> None:
        self._db.close()

    def member_hash(self, member_id: int) -> str:
        """A member as stored: a hash with this installation's secret salt, so ids cannot be read back."""
        return hashlib.sha256(self._salt + str(member_id).encode()).hexdigest()[:32]

    # ---- exchanges -----------------------------------------------------------------------
    def record(
        self,
        *,
        message_id: int,
        server_id: int | None,
        channel_id: int,
        member_id: int,
        answer: Answer,
        now: float | None = None,
    ) -> None:
        exchange = answer.exchange()
        self._db.execute(
            "INSERT OR REPLACE INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                server_id,
                channel_id,
                self.member_hash(member_id),
                answer.question,
                outcome_of(answer),
                json.dumps([list(p) for p in exchange.paragraphs]),
                time.time() if now is None else now,
            ),
        )

    def exchange(self, message_id: int) -> Exchange | None:
        """The exchange answered by the bot's message `message_id`, if it is remembered."""
        row = self._db.execute(
            "SELECT question, paragraphs FROM exchanges WHERE message_id = ?", (message_id,)
        ).fetchone()
        return _exchange(row)

    def in_thread(self, thread_id: int) -> Exchange | None:
        """What a message in a thread goes on from: the last answer in it, else the answer the thread
        was started from (a thread started from a message takes that message's id)."""
        return self.latest_in(thread_id) or self.exchange(thread_id)

    def latest_in(self, channel_id: int) -> Exchange | None:
        """The last exchange in a channel or thread."""
        row = self._db.execute(
            "SELECT question, paragraphs FROM exchanges WHERE channel_id = ? "
            "ORDER BY asked_at DESC, message_id DESC LIMIT 1",
            (channel_id,),
        ).fetchone()
        return _exchange(row)

    # ---- votes ---------------------------------------------------------------------------
    def vote(
        self, *, message_id: int, server_id: int | None, member_id: int, vote: int, now: float | None = None
    ) -> bool:
        """Record a member's vote on an answer; True if it changed an earlier vote of theirs."""
        member, value = self.member_hash(member_id), 1 if vote > 0 else -1
        earlier = self._db.execute(
            "SELECT vote FROM votes WHERE message_id = ? AND member = ?", (message_id, member)
        ).fetchone()
        self._db.execute(
            "INSERT OR REPLACE INTO votes VALUES (?, ?, ?, ?, ?)",
            (message_id, member, server_id, value, time.time() if now is None else now),
        )
        return earlier is not None and earlier[0] != value

    # ---- insights ------------------------------------------------------------------------
    def asked_since(self, server_id: int, since: float) -> list[Asked]:
        """Every question asked in a server since `since`, with the votes on its answer."""
        rows = self._db.execute(
            """
            SELECT e.question, e.outcome, e.message_id,
                   COALESCE(SUM(v.vote < 0), 0), COALESCE(SUM(v.vote > 0), 0)
            FROM exchanges e LEFT JOIN votes v ON v.message_id = e.message_id
            WHERE e.server_id = ? AND e.asked_at >= ?
            GROUP BY e.message_id ORDER BY e.asked_at
            """,
            (server_id, since),
        ).fetchall()
        return [Asked(q, o, m, int(down), int(up)) for q, o, m, down, up in rows]

    def forget_server(self, server_id: int, *, settings_too: bool = False) -> int:
        """Delete a server's questions and votes (and its /config when `settings_too`); rows deleted."""
        deleted = self._db.execute("DELETE FROM exchanges WHERE server_id = ?", (server_id,)).rowcount
        deleted += self._db.execute("DELETE FROM votes WHERE server_id = ?", (server_id,)).rowcount
        if settings_too:
            deleted += self._db.execute("DELETE FROM servers WHERE server_id = ?", (server_id,)).rowcount
        return deleted

    def purge_older_than(self, days: float, *, now: float | None = None) -> int:
        """Delete questions and votes older than `days` (KEEP_QUESTIONS_DAYS); rows deleted."""
        cutoff = (time.time() if now is None else now) - days * DAY
        deleted = self._db.execute("DELETE FROM exchanges WHERE asked_at < ?", (cutoff,)).rowcount
        deleted += self._db.execute("DELETE FROM votes WHERE voted_at < ?", (cutoff,)).rowcount
        return deleted

    # ---- per-server settings ---------------------------------------------------------------
    def config(self, server_id: int) -> ServerConfig:
        row = self._db.execute("SELECT ask_channel, forums FROM servers WHERE server_id = ?", (server_id,)).fetchone()
        if row is None:
            return ServerConfig()
        return ServerConfig(row[0], frozenset(int(f) for f in json.loads(row[1])))

    def set_ask_channel(self, server_id: int, channel_id: int | None) -> None:
        self._ensure_server(server_id)
        self._db.execute("UPDATE servers SET ask_channel = ? WHERE server_id = ?", (channel_id, server_id))

    def set_forum(self, server_id: int, forum_id: int, enabled: bool) -> None:
        forums = set(self.config(server_id).forums)
        if enabled:
            forums.add(forum_id)
        else:
            forums.discard(forum_id)
        self._ensure_server(server_id)
        self._db.execute("UPDATE servers SET forums = ? WHERE server_id = ?", (json.dumps(sorted(forums)), server_id))

    def _ensure_server(self, server_id: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO servers (server_id) VALUES (?)", (server_id,))


def _exchange(row: tuple[str, str] | None) -> Exchange | None:
    if row is None:
        return None
    question, paragraphs = row
    return Exchange(question, tuple((str(key), int(index)) for key, index in json.loads(paragraphs)))


class ConversationService:
    """The store on its own thread: every read and write is queued there, off the event loop."""

    def __init__(self, directory: Path, keep_days: float) -> None:
        self.keep_days = keep_days
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-conversations")
        self._directory = directory
        self._store: ConversationStore | None = None
        self._closed = False
        # Read on every message in a server that mentions no one: kept here, changed only by /config.
        self._configs: dict[int, ServerConfig] = {}

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            if self._store is None:
                self._store = ConversationStore(self._directory)
            return fn(self._store, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def record(self, **kwargs: Any) -> None:
        await self._run(ConversationStore.record, **kwargs)

    async def exchange(self, message_id: int) -> Exchange | None:
        return await self._run(ConversationStore.exchange, message_id)

    async def in_thread(self, thread_id: int) -> Exchange | None:
        return await self._run(ConversationStore.in_thread, thread_id)

    async def vote(self, **kwargs: Any) -> bool:
        return await self._run(ConversationStore.vote, **kwargs)

    async def asked_since(self, server_id: int, since: float) -> list[Asked]:
        return await self._run(ConversationStore.asked_since, server_id, since)

    async def forget_server(self, server_id: int, *, settings_too: bool = False) -> int:
        deleted = await self._run(ConversationStore.forget_server, server_id, settings_too=settings_too)
        if settings_too:
            self._configs.pop(server_id, None)
        return deleted

    async def purge(self) -> int:
        return await self._run(ConversationStore.purge_older_than, self.keep_days)

    async def config(self, server_id: int) -> ServerConfig:
        if server_id not in self._configs:
            self._configs[server_id] = await self._run(ConversationStore.config, server_id)
        return self._configs[server_id]

    # The cached copy is dropped once the write is done, so a read queued before it cannot stay cached.
    async def set_ask_channel(self, server_id: int, channel_id: int | None) -> None:
        await self._run(ConversationStore.set_ask_channel, server_id, channel_id)
        self._configs.pop(server_id, None)

    async def set_forum(self, server_id: int, forum_id: int, enabled: bool) -> None:
        await self._run(ConversationStore.set_forum, server_id, forum_id, enabled)
        self._configs.pop(server_id, None)

    def close(self) -> None:
        """Close the file after the queued work (once; the bot may be closed twice)."""
        if self._closed:
            return
        self._closed = True

        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._pool.submit(close_store)
        self._pool.shutdown(wait=True)

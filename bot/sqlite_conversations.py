"""The conversation store in one SQLite file (WAL) under INDEX_DIR: the embedded default.

- exchanges: each answer the bot sent (by its message id): the question, how it went, the paragraphs
  it quoted, where and when.
- votes: 👍/👎 on an answer, one per member per answer (a second click changes it).
- servers: each server's /config (ask channel, forums).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path

from citebot.index.answer import Answer, Exchange

from .conversation_store import DAY, Asked, ServerConfig, exchange_of, exchange_row, hashed_member

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


class SqliteConversationStore:
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
        return hashed_member(self._salt, member_id)

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
        row = exchange_row(
            message_id=message_id,
            server_id=server_id,
            channel_id=channel_id,
            member=self.member_hash(member_id),
            answer=answer,
            now=now,
        )
        self._db.execute("INSERT OR REPLACE INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

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
    return exchange_of(question, json.loads(paragraphs))

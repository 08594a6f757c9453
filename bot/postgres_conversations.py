"""The conversation store in PostgreSQL, shared by every process of a fleet (see index/database.py).

The same data as the SQLite store, with the same contract (tests/bot/test_conversation_store.py):
exchanges, votes and per-server settings; members only as a salted hash, the salt kept in the
database so every process hashes a member the same way.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from citebot.index.answer import Answer, Exchange
from citebot.index.connections import Connections
from citebot.index.database import upgrade
from citebot.index.errors import CitebotError

from .conversation_store import DAY, Asked, ServerConfig, exchange_of, exchange_row, hashed_member


class PostgresConversationStore:
    """Used from one thread (see ConversationService), on pooled connections: one the server dropped
    is replaced, not failed on."""

    def __init__(self, dsn: str) -> None:
        self._connections = Connections(dsn, "citebot conversations", max_size=2)
        with self._connections.connection() as db:  # rows as tuples
            upgrade(db)
            db.execute("INSERT INTO meta VALUES ('salt', %s) ON CONFLICT (key) DO NOTHING", (secrets.token_hex(32),))
            (salt,) = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        self._salt = bytes.fromhex(salt)

    def close(self) -> None:
        self._connections.close()

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
        with self._connections.connection() as db:
            db.execute(
                """
                INSERT INTO exchanges VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)
                ON CONFLICT (message_id) DO UPDATE SET server_id = EXCLUDED.server_id,
                    channel_id = EXCLUDED.channel_id, member = EXCLUDED.member, question = EXCLUDED.question,
                    outcome = EXCLUDED.outcome, paragraphs = EXCLUDED.paragraphs, asked_at = EXCLUDED.asked_at
                """,
                row,
            )

    def exchange(self, message_id: int) -> Exchange | None:
        with self._connections.connection() as db:
            row = db.execute(
                "SELECT question, paragraphs FROM exchanges WHERE message_id = %s", (message_id,)
            ).fetchone()
            return _exchange(row)

    def in_thread(self, thread_id: int) -> Exchange | None:
        with self._connections.connection() as db:
            row = db.execute(
                "SELECT question, paragraphs FROM exchanges WHERE channel_id = %s "
                "ORDER BY asked_at DESC, message_id DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
        return _exchange(row) or self.exchange(thread_id)

    # ---- votes ---------------------------------------------------------------------------
    def vote(
        self, *, message_id: int, server_id: int | None, member_id: int, vote: int, now: float | None = None
    ) -> bool:
        member, value = self.member_hash(member_id), 1 if vote > 0 else -1
        with self._connections.connection() as db, db.transaction():
            earlier = db.execute(
                "SELECT vote FROM votes WHERE message_id = %s AND member = %s FOR UPDATE", (message_id, member)
            ).fetchone()
            db.execute(
                """
                INSERT INTO votes VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (message_id, member) DO UPDATE SET vote = EXCLUDED.vote, voted_at = EXCLUDED.voted_at
                """,
                (message_id, member, server_id, value, time.time() if now is None else now),
            )
        return earlier is not None and earlier[0] != value

    # ---- insights and retention ----------------------------------------------------------
    def asked_since(self, server_id: int, since: float) -> list[Asked]:
        with self._connections.connection() as db:
            rows = db.execute(
                """
                SELECT e.question, e.outcome, e.message_id,
                       COUNT(*) FILTER (WHERE v.vote < 0), COUNT(*) FILTER (WHERE v.vote > 0)
                FROM exchanges e LEFT JOIN votes v ON v.message_id = e.message_id
                WHERE e.server_id = %s AND e.asked_at >= %s
                GROUP BY e.message_id ORDER BY e.asked_at, e.message_id
                """,
                (server_id, since),
            ).fetchall()
            return [Asked(q, o, int(m), int(down), int(up)) for q, o, m, down, up in rows]

    def forget_server(self, server_id: int, *, settings_too: bool = False) -> int:
        with self._connections.connection() as db, db.transaction():
            deleted = db.execute("DELETE FROM exchanges WHERE server_id = %s", (server_id,)).rowcount
            deleted += db.execute("DELETE FROM votes WHERE server_id = %s", (server_id,)).rowcount
            if settings_too:
                deleted += db.execute("DELETE FROM servers WHERE server_id = %s", (server_id,)).rowcount
        return int(deleted)

    def purge_older_than(self, days: float, *, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - days * DAY
        with self._connections.connection() as db, db.transaction():
            deleted = db.execute("DELETE FROM exchanges WHERE asked_at < %s", (cutoff,)).rowcount
            deleted += db.execute("DELETE FROM votes WHERE voted_at < %s", (cutoff,)).rowcount
        return int(deleted)

    # ---- per-server settings ---------------------------------------------------------------
    def config(self, server_id: int) -> ServerConfig:
        with self._connections.connection() as db:
            row = db.execute("SELECT ask_channel, forums FROM servers WHERE server_id = %s", (server_id,)).fetchone()
            if row is None:
                return ServerConfig()
            return ServerConfig(row[0], frozenset(int(f) for f in row[1]))

    def set_ask_channel(self, server_id: int, channel_id: int | None) -> None:
        with self._connections.connection() as db:
            db.execute(
                "INSERT INTO servers (server_id, ask_channel) VALUES (%s, %s) "
                "ON CONFLICT (server_id) DO UPDATE SET ask_channel = EXCLUDED.ask_channel",
                (server_id, channel_id),
            )

    def set_forum(self, server_id: int, forum_id: int, enabled: bool) -> None:
        with self._connections.connection() as db, db.transaction():
            db.execute("INSERT INTO servers (server_id) VALUES (%s) ON CONFLICT DO NOTHING", (server_id,))
            (forums,) = db.execute(
                "SELECT forums FROM servers WHERE server_id = %s FOR UPDATE", (server_id,)
            ).fetchone()
            kept = set(int(f) for f in forums)
            if enabled:
                kept.add(forum_id)
            else:
                kept.discard(forum_id)
            db.execute("UPDATE servers SET forums = %s WHERE server_id = %s", (json.dumps(sorted(kept)), server_id))

    def import_sqlite(self, path: Path) -> dict[str, tuple[int, int]]:
        """Copy the embedded mode's SQLite file (opened read-only, left as it was) into the database:
        its salt, so members hash as before, then every exchange, vote and server setting; rows already
        there are kept. Returns, per table, (rows in the file, rows in the database after)."""
        # Read a copy (with its write-ahead log): even a read-only open would add files beside the original.
        scratch = tempfile.TemporaryDirectory(prefix="citebot-import-")
        copy = Path(scratch.name) / path.name
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").is_file():
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        source = sqlite3.connect(copy)
        try:
            (salt,) = source.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
            tables = {
                "exchanges": source.execute(
                    "SELECT message_id, server_id, channel_id, member, question, outcome, paragraphs, asked_at "
                    "FROM exchanges"
                ).fetchall(),
                "votes": source.execute("SELECT message_id, member, server_id, vote, voted_at FROM votes").fetchall(),
                "servers": source.execute("SELECT server_id, ask_channel, forums FROM servers").fetchall(),
            }
        finally:
            source.close()
            scratch.cleanup()
        with self._connections.connection() as db:
            with db.transaction():
                (current,) = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
                if current != salt:
                    (used,) = db.execute(
                        "SELECT EXISTS (SELECT 1 FROM exchanges) OR EXISTS (SELECT 1 FROM votes)"
                    ).fetchone()
                    if used:
                        raise CitebotError(
                            "This database already holds questions hashed with another salt; import into an empty one."
                        )
                    db.execute("UPDATE meta SET value = %s WHERE key = 'salt'", (salt,))
                with db.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO exchanges VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING",
                        tables["exchanges"],
                    )
                    cursor.executemany(
                        "INSERT INTO votes VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", tables["votes"]
                    )
                    cursor.executemany(
                        "INSERT INTO servers VALUES (%s, %s, %s::jsonb) ON CONFLICT DO NOTHING", tables["servers"]
                    )
            self._salt = bytes.fromhex(salt)
            counts = {}
            for table, rows in tables.items():
                (after,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
                counts[table] = (len(rows), int(after))
        return counts


def _exchange(row: Any) -> Exchange | None:
    if row is None:
        return None
    question, paragraphs = row
    return exchange_of(question, paragraphs)

"""The shared database of a fleet (PostgreSQL): its schema, as numbered migrations applied in order.

Each migration runs once, in its own transaction, and is recorded in `schema_migrations`; an
advisory lock lets many processes start at once and upgrade it only once. Migrations only add
(tables, columns, indexes): nothing is ever dropped or rewritten silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Taken while upgrading, so processes starting together apply each migration once.
UPGRADE_LOCK = 0x63697465  # "cite"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS = (
    Migration(
        1,
        "conversations",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE exchanges (
            message_id BIGINT PRIMARY KEY,   -- the bot's answer message
            server_id BIGINT,                -- NULL in DMs
            channel_id BIGINT NOT NULL,      -- the channel or thread it was sent in
            member TEXT NOT NULL,            -- salted hash of the asking member's id
            question TEXT NOT NULL,
            outcome TEXT NOT NULL,           -- answered | uncertain | abstained | summary
            paragraphs JSONB NOT NULL,       -- [[document key, paragraph index], ...]
            asked_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX exchanges_by_server ON exchanges (server_id, asked_at);
        CREATE INDEX exchanges_by_channel ON exchanges (channel_id, asked_at);
        CREATE TABLE votes (
            message_id BIGINT NOT NULL,
            member TEXT NOT NULL,
            server_id BIGINT,
            vote SMALLINT NOT NULL,          -- +1 or -1
            voted_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (message_id, member)
        );
        CREATE INDEX votes_by_server ON votes (server_id, voted_at);
        CREATE TABLE servers (
            server_id BIGINT PRIMARY KEY,
            ask_channel BIGINT,
            forums JSONB NOT NULL DEFAULT '[]'
        );
        """,
    ),
    Migration(
        2,
        "libraries",
        """
        CREATE TABLE libraries (
            library TEXT PRIMARY KEY,        -- "default" or "server-<id>"
            current BIGINT NOT NULL          -- the published version that answers
        );
        CREATE TABLE library_versions (
            library TEXT NOT NULL,
            version BIGSERIAL,
            manifest JSONB NOT NULL,
            units BYTEA NOT NULL,            -- units.json as written
            vectors BYTEA NOT NULL,          -- the FAISS index as written
            published_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (library, version)
        );
        CREATE TABLE library_sources (
            library TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,              -- the file name it was kept under (its extension matters)
            data BYTEA NOT NULL,
            kept_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (library, sha256)
        );
        CREATE TABLE library_locks (
            library TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            since DOUBLE PRECISION NOT NULL
        );
        """,
    ),
)


def schema_version(conn: Any) -> int:
    """The newest migration applied (0 for an empty database)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def upgrade(conn: Any, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations the database lacks, in order; returns the versions applied.

    `conn` is a psycopg connection in autocommit mode; each migration is one transaction."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        current = schema_version(conn)
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= current:
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name)
                )
            applied.append(migration.version)
    return applied

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
    Migration(
        3,
        "fleet",
        """
        CREATE TABLE build_jobs (
            id BIGSERIAL PRIMARY KEY,
            library TEXT NOT NULL,
            sources JSONB NOT NULL,          -- the source records to build from (uploads: bytes in library_sources)
            status TEXT NOT NULL,            -- queued | running | published | done | failed | cancelled
            stage TEXT,                      -- the build's progress: parsing, embedding, relating, writing
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER NOT NULL DEFAULT 0,
            worker TEXT,                     -- host and process of the worker running it
            worker_pid INTEGER,              -- that worker's database backend, to tell whether it is alive
            worker_since TIMESTAMPTZ,
            result JSONB,                    -- {"titles": [...], "embedded_sentences": n}
            error JSONB,                     -- {"module": ..., "class": ..., "text": ...}
            enqueued_at DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION
        );
        CREATE INDEX build_jobs_waiting ON build_jobs (id) WHERE status = 'queued';
        CREATE TABLE build_workers (
            name TEXT PRIMARY KEY,           -- host and process
            backend_pid INTEGER NOT NULL,    -- its listening connection's backend
            backend_since TIMESTAMPTZ NOT NULL,
            seen_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE departures (
            server_id BIGINT PRIMARY KEY,
            left_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE command_sync (
            scope TEXT PRIMARY KEY,          -- "<application id>:global" or "<application id>:<guild id>"
            digest TEXT NOT NULL,
            synced_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE identify_buckets (
            bucket INTEGER PRIMARY KEY,      -- shard_id % max_concurrency
            last_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE identifies (
            shard_id INTEGER NOT NULL,
            at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX identifies_by_shard ON identifies (shard_id, at);
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

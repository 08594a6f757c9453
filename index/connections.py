"""Reused connections to a fleet's PostgreSQL, for the short statements of every request.

Opening a connection costs a round of authentication (bench/fleet.py: `SELECT 1` p50 3.06 ms on a
new local connection, more across a network; 0.25 ms on a pooled one). The pool (psycopg's own)
keeps a few open, checks each before lending it, so a connection the server dropped (a restart,
`pg_terminate_backend`) is replaced rather than failing a request, and opens on first use. Long
holders (a LISTEN, a session advisory lock, a build worker's claim) keep connections of their own.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

# Waiting longer than this for a connection (the database is away) fails the request, as a refused
# connection would: psycopg_pool's PoolTimeout is a psycopg.OperationalError.
LEND_TIMEOUT_SECONDS = 5.0
# A connection idle this long is closed, down to the one the pool keeps.
MAX_IDLE_SECONDS = 300.0


def application_name(purpose: str) -> str:
    """What an operator sees in pg_stat_activity: the purpose and this process."""
    return f"{purpose} {os.getpid()}"[:63]


def open_connection(dsn: str, purpose: str) -> Any:
    """A new autocommit connection of the caller's own, named after its purpose."""
    import psycopg

    return psycopg.connect(dsn, autocommit=True, application_name=application_name(purpose))


class Connections:
    """A pool of autocommit connections to the database at `dsn`, safe to share between threads.

    Copies sent to another process (a spawned build process) carry only the settings and open a pool
    of their own there."""

    def __init__(self, dsn: str, purpose: str = "citebot", max_size: int = 4) -> None:
        self.dsn = dsn
        self.purpose = purpose
        self.max_size = max_size
        self._lock = threading.Lock()
        self._pool: Any = None
        self._closed = False

    def __getstate__(self) -> dict[str, Any]:
        return {"dsn": self.dsn, "purpose": self.purpose, "max_size": self.max_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dsn, self.purpose, self.max_size = state["dsn"], state["purpose"], state["max_size"]
        self._lock = threading.Lock()
        self._pool = None
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection lent for the block. After `close()` (shutting down), a late statement, such as
        cancelling a build whose waiter was stopped, gets a connection of its own instead."""
        from psycopg_pool import PoolClosed

        pool, lent = self._opened(), None
        if pool is not None:
            with contextlib.suppress(PoolClosed):  # closed since: shutting down
                lent = pool.getconn(timeout=LEND_TIMEOUT_SECONDS)
        if lent is None:
            with open_connection(self.dsn, self.purpose) as own:
                yield own
            return
        try:
            with lent:  # psycopg's usual end of block; a pooled connection stays open
                yield lent
        finally:
            pool.putconn(lent)

    def _opened(self) -> Any:
        with self._lock:
            if self._closed:
                return None
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_size,
                    max_idle=MAX_IDLE_SECONDS,
                    kwargs={"autocommit": True, "application_name": application_name(self.purpose)},
                    check=ConnectionPool.check_connection,
                    name=self.purpose,
                    open=True,
                )
            return self._pool

    def close(self) -> None:
        """Close every pooled connection (those lent out as they come back)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

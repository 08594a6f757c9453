"""Pooled connections (index/connections.py): reused, sent to other processes as settings only,
and still usable for a late statement once closed."""

from __future__ import annotations

import os
import pickle

from citebot.index.connections import Connections


def backend_pids(connections: Connections, times: int) -> set[int]:
    pids = set()
    for _ in range(times):
        with connections.connection() as conn:
            (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
            pids.add(pid)
    return pids


def test_statements_reuse_one_connection(postgres_dsn: str) -> None:
    connections = Connections(postgres_dsn, "citebot test")
    try:
        # the first request may start a second connection while the pool opens its first
        assert len(backend_pids(connections, 20) | backend_pids(connections, 20)) <= 2
        with connections.connection() as conn:
            (name,) = conn.execute("SELECT current_setting('application_name')").fetchone()
            assert name == f"citebot test {os.getpid()}"
            assert conn.autocommit
    finally:
        connections.close()


def test_a_copy_for_another_process_opens_its_own_pool(postgres_dsn: str) -> None:
    connections = Connections(postgres_dsn, "citebot test", max_size=3)
    try:
        (mine,) = backend_pids(connections, 1)
        copy = pickle.loads(pickle.dumps(connections))
        assert (copy.dsn, copy.purpose, copy.max_size) == (postgres_dsn, "citebot test", 3)
        try:
            assert backend_pids(copy, 1) != {mine}
        finally:
            copy.close()
    finally:
        connections.close()


def test_after_closing_a_late_statement_gets_a_connection_of_its_own(postgres_dsn: str) -> None:
    connections = Connections(postgres_dsn, "citebot test")
    (pooled,) = backend_pids(connections, 1)
    connections.close()
    late = backend_pids(connections, 2)
    assert len(late) == 2 and pooled not in late  # each one opened, and closed after
    with connections.connection() as conn:
        (open_here,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (f"citebot test {os.getpid()}",)
        ).fetchone()
    assert open_here == 1  # only this one: the pool's and the earlier late ones are closed

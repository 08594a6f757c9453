"""IDENTIFY pacing across a fleet, through the database (bot/identify.py)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import psycopg
import pytest

from citebot.bot.identify import MAX_RESTART_DELAY, IdentifyGate, RestartBackoff, restart_delay
from citebot.index.postgres_store import PostgresLibraryStore


def test_a_shard_that_keeps_restarting_waits_longer_each_time_up_to_a_ceiling() -> None:
    delays = [restart_delay(n) for n in range(12)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:6] == [5.0, 10.0, 20.0]
    assert max(delays) == MAX_RESTART_DELAY and delays == sorted(delays)
    assert 86_400 / MAX_RESTART_DELAY < 1000  # a loop at the ceiling stays under Discord's daily budget


@pytest.fixture
def dsn(postgres_dsn: str, tmp_path: Path) -> str:
    PostgresLibraryStore(postgres_dsn, tmp_path).upgrade()
    return postgres_dsn


def test_processes_identify_one_at_a_time_per_bucket(dsn: str) -> None:
    interval = 0.4
    threads = [
        threading.Thread(target=IdentifyGate(dsn, interval=interval).wait_turn, args=(shard, 1)) for shard in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    with psycopg.connect(dsn, autocommit=True) as conn:  # when each identified, by the database's clock
        times = [float(at) for (at,) in conn.execute("SELECT at FROM identifies ORDER BY at")]
    assert len(times) == 3
    assert all(later - earlier >= interval for earlier, later in itertools.pairwise(times))


def test_shards_of_different_buckets_identify_together(dsn: str) -> None:
    gate = IdentifyGate(dsn, interval=5.0)
    started = time.monotonic()
    assert gate.wait_turn(0, max_concurrency=2) == 0.0
    assert gate.wait_turn(1, max_concurrency=2) == 0.0  # bucket 1: no wait for bucket 0
    assert time.monotonic() - started < 5.0


def test_a_stopping_process_stops_waiting(dsn: str) -> None:
    first = IdentifyGate(dsn, interval=30.0)
    first.wait_turn(0)
    second = IdentifyGate(dsn, interval=30.0)
    threading.Timer(0.3, second.stopping.set).start()
    started = time.monotonic()
    second.wait_turn(0)
    assert time.monotonic() - started < 5.0


def test_the_embedded_mode_backs_off_a_shard_that_keeps_restarting(tmp_path: Path) -> None:
    gate = RestartBackoff(tmp_path)
    gate.stopping.set()  # report each wait without sleeping it
    assert [gate.wait_turn(0) for _ in range(5)] == [0.0, 0.0, 0.0, 5.0, 10.0]
    restarted = RestartBackoff(tmp_path)  # a new process reads the same record
    restarted.stopping.set()
    assert restarted.wait_turn(0) == 20.0
    assert restarted.wait_turn(1) == 0.0  # per shard

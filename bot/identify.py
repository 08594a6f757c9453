"""Pacing IDENTIFYs: Discord's session-start rate across a fleet, and back-off when restarting.

Discord lets an application start one session per `max_concurrency` bucket (shard_id %
max_concurrency) every 5 seconds, and a fixed number of sessions a day. Processes on many
machines share the pace through the fleet's database: each IDENTIFY takes its bucket's row, and
waits until 5 seconds after the last one of that bucket, by the database's clock. Every IDENTIFY is
recorded per shard, so a shard that keeps starting again (a crash-restart loop) waits longer each
time, and a loop can never spend the day's budget. The embedded mode keeps the same per-shard
record in a file (`RestartBackoff`); discord.py paces the shards of its one process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from citebot.index.store import write_file_atomically

log = logging.getLogger(__name__)

IDENTIFY_INTERVAL = 5.0  # Discord: one IDENTIFY per bucket per 5 seconds
FREE_RESTARTS = 3  # IDENTIFYs of one shard within RESTART_WINDOW that wait for nothing more
RESTART_WINDOW = 600.0
MAX_RESTART_DELAY = 600.0


def restart_delay(recent: int) -> float:
    """How long a shard waits before IDENTIFYing, after `recent` IDENTIFYs in the last RESTART_WINDOW:
    nothing for the first FREE_RESTARTS, then 5 s doubling up to MAX_RESTART_DELAY. At that ceiling
    a shard that restarts forever identifies at most 144 times a day."""
    if recent < FREE_RESTARTS:
        return 0.0
    return float(min(IDENTIFY_INTERVAL * 2 ** (recent - FREE_RESTARTS), MAX_RESTART_DELAY))


class Gate(Protocol):
    stopping: threading.Event

    def wait_turn(self, shard_id: int, max_concurrency: int = 1) -> float:
        """Block until this shard may IDENTIFY, and record that it does; returns the seconds waited."""
        ...


class RestartBackoff:
    """The embedded mode's gate: only the restart back-off, its record in INDEX_DIR/identifies.json."""

    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / "identifies.json"
        self.stopping = threading.Event()

    def _read(self) -> dict[str, list[float]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): [float(t) for t in v if isinstance(t, (int, float))] for k, v in data.items() if isinstance(v, list)
        }

    def wait_turn(self, shard_id: int, max_concurrency: int = 1) -> float:
        history = self._read()
        now = time.time()
        recent = [at for at in history.get(str(shard_id), []) if now - at < RESTART_WINDOW]
        backoff = restart_delay(len(recent))
        if backoff:
            log.warning(
                "Shard %d identified %d times in %d minutes; waiting %.0f s before connecting again.",
                shard_id,
                len(recent),
                RESTART_WINDOW // 60,
                backoff,
            )
            self.stopping.wait(backoff)
        history[str(shard_id)] = [*recent, time.time()]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomically(self.path, json.dumps(history).encode("utf-8"))
        except OSError:
            log.warning("Could not record an IDENTIFY in %s.", self.path, exc_info=True)
        return backoff


class IdentifyGate:
    """Waits for a shard's turn to IDENTIFY, fleet-wide, through the database at `dsn`."""

    def __init__(self, dsn: str, *, interval: float = IDENTIFY_INTERVAL) -> None:
        self.dsn = dsn
        self.interval = interval
        self.stopping = threading.Event()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)

    def wait_turn(self, shard_id: int, max_concurrency: int = 1) -> float:
        """Block until this shard may IDENTIFY, and record that it does; returns the seconds waited."""
        waited = 0.0
        bucket = shard_id % max(1, max_concurrency)
        with self._connect() as conn:
            (recent,) = conn.execute(
                "SELECT count(*) FROM identifies "
                "WHERE shard_id = %s AND at > extract(epoch FROM clock_timestamp()) - %s",
                (shard_id, RESTART_WINDOW),
            ).fetchone()
            backoff = restart_delay(int(recent))
            if backoff:
                log.warning(
                    "Shard %d identified %d times in %d minutes; waiting %.0f s before connecting again.",
                    shard_id,
                    recent,
                    RESTART_WINDOW // 60,
                    backoff,
                )
                self.stopping.wait(backoff)
                waited += backoff
            while not self.stopping.is_set():
                with conn.transaction():
                    conn.execute("INSERT INTO identify_buckets VALUES (%s, 0) ON CONFLICT DO NOTHING", (bucket,))
                    last, now = conn.execute(
                        "SELECT last_at, extract(epoch FROM clock_timestamp()) FROM identify_buckets "
                        "WHERE bucket = %s FOR UPDATE",
                        (bucket,),
                    ).fetchone()
                    wait = float(last) + self.interval - float(now)
                    if wait <= 0:
                        conn.execute("UPDATE identify_buckets SET last_at = %s WHERE bucket = %s", (now, bucket))
                        conn.execute("INSERT INTO identifies VALUES (%s, %s)", (shard_id, now))
                        conn.execute("DELETE FROM identifies WHERE at < %s", (float(now) - 86_400,))
                        return waited
                self.stopping.wait(wait)
                waited += wait
        return waited

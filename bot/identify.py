"""Pacing IDENTIFYs across a fleet: Discord's session-start rate, and back-off when restarting.

Discord lets an application start one session per `max_concurrency` bucket (shard_id %
max_concurrency) every 5 seconds, and a fixed number of sessions a day. Processes on many
machines share the pace through the fleet's database: each IDENTIFY takes its bucket's row, and
waits until 5 seconds after the last one of that bucket, by the database's clock. Every IDENTIFY is
recorded per shard, so a shard that keeps starting again (a crash-restart loop) waits longer each
time, and a loop can never spend the day's budget.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

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

"""When a server's library is deleted after the bot left that server.

A server that adds the bot back before the deadline keeps its library. The embedded mode keeps
departures in INDEX_DIR/departures.json ({server id: UTC seconds when the bot left}); a fleet keeps
them in its database (`PostgresDepartures`), so every process sees the same clock.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Protocol

from .store import write_file_atomically

log = logging.getLogger(__name__)

DEPARTURES = "departures.json"
DAY = 86_400.0


class Departures(Protocol):
    """The servers the bot has left, and when."""

    def left(self, server_id: int, at: float | None = None) -> None:
        """The bot left the server (the first departure counts until it returns)."""
        ...

    def returned(self, server_id: int) -> None: ...

    def due(self, keep_days: float, now: float | None = None) -> list[int]:
        """Servers left at least `keep_days` ago."""
        ...

    def forget(self, server_id: int) -> None: ...


class FileDepartures:
    """Departures in a JSON file under INDEX_DIR (the embedded mode)."""

    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / DEPARTURES

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("Ignoring an unreadable %s: %s", self.path.name, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def _write(self, data: dict[str, float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

    def left(self, server_id: int, at: float | None = None) -> None:
        data = self._read()
        data.setdefault(str(server_id), time.time() if at is None else at)
        self._write(data)

    def returned(self, server_id: int) -> None:
        data = self._read()
        if data.pop(str(server_id), None) is not None:
            self._write(data)

    def due(self, keep_days: float, now: float | None = None) -> list[int]:
        """Servers left at least `keep_days` ago."""
        now = time.time() if now is None else now
        return sorted(int(k) for k, at in self._read().items() if k.isdigit() and now - at >= keep_days * DAY)

    def forget(self, server_id: int) -> None:
        self.returned(server_id)


class PostgresDepartures:
    """Departures in the fleet's database (table `departures`, index/database.py)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)

    def left(self, server_id: int, at: float | None = None) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO departures VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (server_id, time.time() if at is None else at),
            )

    def returned(self, server_id: int) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM departures WHERE server_id = %s", (server_id,))

    def due(self, keep_days: float, now: float | None = None) -> list[int]:
        now = time.time() if now is None else now
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT server_id FROM departures WHERE left_at <= %s ORDER BY server_id", (now - keep_days * DAY,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def forget(self, server_id: int) -> None:
        self.returned(server_id)

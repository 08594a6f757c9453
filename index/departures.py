"""When a server's library is deleted after the bot left that server.

Departures are kept in INDEX_DIR/departures.json ({server id: UTC seconds when the bot left}); a
server that adds the bot back before the deadline keeps its library.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from .store import write_file_atomically

log = logging.getLogger(__name__)

DEPARTURES = "departures.json"
DAY = 86_400.0


class Departures:
    """The servers the bot has left, and when."""

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

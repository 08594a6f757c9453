"""What was last synced of the slash commands, so a restart syncs only when they changed.

Discord limits how often commands may be registered; a digest of the commands synced is kept per
scope (application and guild, or global). The embedded mode keeps it in INDEX_DIR/discord-sync.json;
a fleet keeps it in its database, so that of many processes starting at once, one syncs.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Protocol

from citebot.index.store import write_file_atomically

SYNC_FILE = "discord-sync.json"


def commands_digest(payload: list[dict[str, Any]]) -> str:
    """A digest of the commands as they are sent to Discord."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class SyncRecord(Protocol):
    def synced(self, scope: str) -> str | None:
        """The digest of the commands last synced to `scope` (None: never)."""
        ...

    def record(self, scope: str, digest: str) -> None: ...


class FileSyncRecord:
    """The embedded mode's record, a JSON file {scope: digest}."""

    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / SYNC_FILE

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def synced(self, scope: str) -> str | None:
        return self._read().get(scope)

    def record(self, scope: str, digest: str) -> None:
        state = self._read()
        state[scope] = digest
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(self.path, json.dumps(state).encode("utf-8"))


class PostgresSyncRecord:
    """A fleet's record, in the table `command_sync` (index/database.py)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)

    def synced(self, scope: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT digest FROM command_sync WHERE scope = %s", (scope,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, scope: str, digest: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO command_sync VALUES (%s, %s, %s) "
                "ON CONFLICT (scope) DO UPDATE SET digest = EXCLUDED.digest, synced_at = EXCLUDED.synced_at",
                (scope, digest, time.time()),
            )

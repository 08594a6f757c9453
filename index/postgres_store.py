"""The library store in PostgreSQL, shared by every process of a fleet (schema: index/database.py).

The database is the truth: each library's published versions (manifest, units and FAISS index as
bytes), the sources they were built from, and who holds each library's lock. Publishing a version
is one transaction that inserts it and names it current. Each process keeps a local mirror of the
libraries it uses, laid out as the file store lays out a library, so loading, verifying and
building work on files exactly as in the embedded mode; the mirror is refreshed whenever the
database names another version current.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import SourceFile
from .connections import Connections, open_connection
from .database import upgrade
from .errors import BuildCancelled, BuildInProgress, CitebotError, IndexMissing
from .file_store import EMBEDDINGS, FileLibraryStore, remove_library_files
from .library_store import DEFAULT_KEY, server_of
from .store import (
    CURRENT,
    MANIFEST,
    SOURCES,
    UNITS,
    VECTORS,
    IndexManifest,
    NewVersion,
    StoredIndex,
    WriteStep,
    current_build,
    keep_upload,
    load_index,
    read_manifest,
    remove_unfinished_builds,
    remove_unused_sources,
    sha256_bytes,
    write_file_atomically,
    write_index,
)

VERSION = "VERSION"  # in a mirror: the database version its CURRENT build is
CHANNEL = "citebot_libraries"  # NOTIFY channel: the key of each library published or deleted
RECHECK_SECONDS = 5.0  # every library held is checked this often, notifications or not
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostgresLibraryStore:
    """Libraries in PostgreSQL at `dsn`, mirrored under `mirror_dir`; plain data, so a build process
    can be handed one and open its own connections."""

    dsn: str
    mirror_dir: Path
    # Set on a build worker's copy: publishing also marks this build job published, in the same
    # transaction, and is refused (BuildCancelled) when the job is no longer running.
    job: int | None = None
    # The short statements' connections, shared by copies made with dataclasses.replace.
    connections: Connections | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.connections is None:
            object.__setattr__(self, "connections", Connections(self.dsn))

    def connect(self, purpose: str = "citebot") -> Any:
        """A new autocommit connection of the caller's own (a LISTEN, a lock held for a while), named
        after its purpose and this process (what an operator sees in pg_stat_activity)."""
        return open_connection(self.dsn, purpose)

    def pooled(self) -> contextlib.AbstractContextManager[Any]:
        """A connection lent from this process's pool, for a few short statements."""
        assert self.connections is not None  # set in __post_init__
        return self.connections.connection()

    def close(self) -> None:
        """Close the pooled connections (at exit; copies made with dataclasses.replace share them)."""
        if self.connections is not None:
            self.connections.close()

    def upgrade(self) -> list[int]:
        """Bring the database's schema up to date (also done by `citebot db upgrade`)."""
        with self.connect() as conn:
            return upgrade(conn)

    def _mirror(self, key: str) -> Path:
        return FileLibraryStore(self.mirror_dir).directory(key)

    def exists(self, key: str) -> bool:
        with self.pooled() as conn:
            return conn.execute("SELECT 1 FROM libraries WHERE library = %s", (key,)).fetchone() is not None

    def read(self, key: str, *, model: str | None = None) -> StoredIndex:
        return load_index(self._synced(key), expected_model=model)

    def manifest(self, key: str) -> IndexManifest:
        return read_manifest(self._synced(key))

    def _synced(self, key: str) -> Path:
        """The mirror of the library's current version, downloaded when it is not the current one."""
        mirror = self._mirror(key)
        with self.pooled() as conn:
            row = conn.execute("SELECT current FROM libraries WHERE library = %s", (key,)).fetchone()
            if row is None:
                raise IndexMissing(f"No index has been built for library {key} yet.")
            current = int(row[0])
            if _mirrored_version(mirror) == current:
                return mirror
            manifest_json, units, vectors = conn.execute(
                "SELECT manifest, units, vectors FROM library_versions WHERE library = %s AND version = %s",
                (key, current),
            ).fetchone()
            manifest = IndexManifest.from_json(manifest_json)
            sources = [self._materialised(conn, key, mirror, record) for record in manifest.sources]
        build = mirror / "builds" / f"v{current}"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        write_file_atomically(build / UNITS, bytes(units))
        write_file_atomically(build / VECTORS, bytes(vectors))
        here = dataclasses.replace(manifest, sources=tuple(sources))
        write_file_atomically(build / MANIFEST, json.dumps(here.to_json(), indent=2).encode("utf-8"))
        write_file_atomically(mirror / CURRENT, build.name.encode("ascii"))
        write_file_atomically(mirror / VERSION, str(current).encode("ascii"))
        return mirror

    def _materialised(self, conn: Any, key: str, mirror: Path, record: Any) -> Any:
        """A source record pointing at a local copy of its bytes (configured sources stay where they are)."""
        if record.origin != "upload":
            return record
        row = conn.execute(
            "SELECT name, data FROM library_sources WHERE library = %s AND sha256 = %s", (key, record.sha256)
        ).fetchone()
        if row is None:
            raise IndexMissing(f"The source {record.name} of library {key} is missing from the database.")
        path = keep_upload(mirror, row[0], bytes(row[1]))
        return dataclasses.replace(record, path=str(path.resolve()))

    def publish(self, key: str, version: NewVersion, on_step: WriteStep | None = None) -> StoredIndex:
        mirror = self._mirror(key)
        stored = write_index(mirror, version, on_step=on_step)  # written and verified locally first
        build = current_build(mirror)
        with self.pooled() as conn, conn.transaction():
            if self.job is not None:
                _claim_publication(conn, self.job)
            number = _make_current(
                conn, key, stored.manifest, (build / UNITS).read_bytes(), (build / VECTORS).read_bytes()
            )
        write_file_atomically(mirror / VERSION, str(number).encode("ascii"))
        return stored

    def local_sources(self, key: str, sources: list[SourceFile]) -> list[SourceFile]:
        """These sources with each upload's bytes copied from the database into the local mirror (a
        build worker on another machine builds from them)."""
        mirror = self._mirror(key)
        local: list[SourceFile] = []
        with self.pooled() as conn:
            for source in sources:
                if source.origin != "upload":
                    local.append(source)
                    continue
                row = conn.execute(
                    "SELECT name, data FROM library_sources WHERE library = %s AND sha256 = %s", (key, source.sha256)
                ).fetchone()
                if row is None:
                    raise IndexMissing(f"The document {source.name} of library {key} is missing from the database.")
                local.append(dataclasses.replace(source, path=keep_upload(mirror, row[0], bytes(row[1]))))
        return local

    def tidy_mirror(self, key: str) -> None:
        """Remove what an unfinished build left in the local mirror (it was never published)."""
        remove_unfinished_builds(self._mirror(key))

    def keep_source(self, key: str, name: str, data: bytes) -> Path:
        with self.pooled() as conn:
            conn.execute(
                "INSERT INTO library_sources VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (key, sha256_bytes(data), Path(name).name, data, time.time()),
            )
        return keep_upload(self._mirror(key), name, data)

    def drop_unused(self, key: str) -> None:
        mirror = self._mirror(key)
        try:
            sources = self.manifest(key).sources
        except CitebotError:
            sources = ()
        with self.pooled() as conn:
            conn.execute(
                "DELETE FROM library_sources WHERE library = %s AND NOT (sha256 = ANY(%s))",
                (key, [s.sha256 for s in sources]),
            )
        remove_unused_sources(mirror, {s.path for s in sources})
        remove_unfinished_builds(mirror)
        if not sources:
            remove_library_files(mirror)

    def library_keys(self) -> list[str]:
        with self.pooled() as conn:
            keys = [str(row[0]) for row in conn.execute("SELECT library FROM libraries").fetchall()]
        return sorted(keys, key=lambda k: (k != DEFAULT_KEY, server_of(k) or 0))

    @contextlib.contextmanager
    def locked(self, key: str, holder: str) -> Iterator[None]:
        conn = self.connect()
        try:
            (got,) = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || %s))", (_lock_name(key),)
            ).fetchone()
            if not got:
                row = conn.execute("SELECT holder FROM library_locks WHERE library = %s", (key,)).fetchone()
                who = row[0] if row else "another process"
                raise BuildInProgress(f"Another change to this library is running ({who}); try again when it finishes.")
            conn.execute(
                "INSERT INTO library_locks VALUES (%s, %s, %s) "
                "ON CONFLICT (library) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since",
                (key, f"{holder}, process {os.getpid()} on {socket.gethostname()}", time.time()),
            )
            try:
                yield
            finally:
                conn.execute("DELETE FROM library_locks WHERE library = %s", (key,))
                conn.execute("SELECT pg_advisory_unlock(hashtext(current_schema() || %s))", (_lock_name(key),))
        finally:
            conn.close()

    def holder(self, key: str) -> str | None:
        with self.pooled() as conn:
            (free,) = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || %s))", (_lock_name(key),)
            ).fetchone()
            if free:
                conn.execute("SELECT pg_advisory_unlock(hashtext(current_schema() || %s))", (_lock_name(key),))
                return None
            row = conn.execute("SELECT holder FROM library_locks WHERE library = %s", (key,)).fetchone()
            return str(row[0]) if row else "another process"

    def delete(self, key: str) -> bool:
        if key == DEFAULT_KEY:
            raise CitebotError("The default library cannot be deleted.")
        with self.locked(key, "deleting the library"), self.pooled() as conn, conn.transaction():
            existed = conn.execute("DELETE FROM libraries WHERE library = %s", (key,)).rowcount > 0
            conn.execute("DELETE FROM library_versions WHERE library = %s", (key,))
            conn.execute("DELETE FROM library_sources WHERE library = %s", (key,))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, key))
        shutil.rmtree(self._mirror(key), ignore_errors=True)
        return existed

    def version(self, key: str) -> str | None:
        with self.pooled() as conn:
            row = conn.execute("SELECT current FROM libraries WHERE library = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def versions(self, keys: list[str]) -> dict[str, str | None]:
        with self.pooled() as conn:
            rows = conn.execute("SELECT library, current FROM libraries WHERE library = ANY(%s)", (keys,)).fetchall()
        found = {str(key): str(current) for key, current in rows}
        return {key: found.get(key) for key in keys}

    def watch(self, changed: Callable[[str | None], None]) -> Callable[[], None]:
        """Listen for published and deleted libraries on a connection of its own, in a thread.

        After every (re)connection, and every RECHECK_SECONDS, `changed(None)` asks for every
        library to be checked, so a notification lost with a dropped connection costs a reload at
        most, never answers from an old version for long."""
        stop = threading.Event()

        def listen() -> None:
            delay = 0.5
            while not stop.is_set():
                try:
                    with self.connect("citebot watch") as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        changed(None)
                        delay, checked = 0.5, time.monotonic()
                        while not stop.is_set():
                            for note in conn.notifies(timeout=0.5):
                                changed(note.payload)
                            if time.monotonic() - checked > RECHECK_SECONDS:
                                changed(None)
                                checked = time.monotonic()
                except Exception:
                    log.warning("Lost the library notifications; reconnecting in %g s.", delay, exc_info=True)
                    stop.wait(delay)
                    delay = min(delay * 2, 30.0)

        thread = threading.Thread(target=listen, name="citebot-library-watch", daemon=True)
        thread.start()

        def stop_watching() -> None:
            stop.set()
            thread.join(5)

        return stop_watching

    def scratch(self, key: str) -> Path:
        return self._mirror(key) / EMBEDDINGS

    def import_library(self, source: FileLibraryStore, key: str) -> Imported:
        """Copy a library's current version and its documents from a folder (the embedded mode),
        leaving the folder as it was. Importing the same version again changes nothing."""
        folder = source.directory(key)
        manifest = read_manifest(folder)
        build = current_build(folder)
        units, vectors = (build / UNITS).read_bytes(), (build / VECTORS).read_bytes()
        for name, data in ((UNITS, units), (VECTORS, vectors)):
            if sha256_bytes(data) != manifest.files[name]["sha256"]:
                raise CitebotError(
                    f"{folder}: {name} does not match its manifest; repair it (citebot index build) first."
                )
        documents = []
        for record in manifest.sources:
            if record.origin != "upload":
                continue
            kept = Path(record.path)
            if not kept.is_file():  # the folder was moved: the copy is still under its sources/
                kept = folder / SOURCES / Path(record.path).name
            data = kept.read_bytes()
            if sha256_bytes(data) != record.sha256:
                raise CitebotError(f"{folder}: the kept copy of {record.name} does not match its manifest.")
            documents.append((record, data))
        with self.locked(key, "citebot db import"), self.pooled() as conn, conn.transaction():
            row = conn.execute(
                "SELECT v.manifest FROM libraries l JOIN library_versions v "
                "ON v.library = l.library AND v.version = l.current WHERE l.library = %s",
                (key,),
            ).fetchone()
            if row is not None and IndexManifest.from_json(row[0]).files == manifest.files:
                return Imported(key, len(manifest.sources), manifest.files[UNITS]["sha256"], copied=False)
            for record, data in documents:
                conn.execute(
                    "INSERT INTO library_sources VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (key, record.sha256, Path(record.path).name, data, time.time()),
                )
            _make_current(conn, key, manifest, units, vectors)
        return Imported(key, len(manifest.sources), manifest.files[UNITS]["sha256"], copied=True)


@dataclass(frozen=True)
class Imported:
    """What importing one library did: its documents, the hash of its units, and whether it was copied
    (False: that version was already there)."""

    key: str
    documents: int
    units_sha256: str
    copied: bool


def _make_current(conn: Any, key: str, manifest: IndexManifest, units: bytes, vectors: bytes) -> int:
    """Insert a version and name it current, within the caller's transaction; earlier versions go,
    and every process listening hears of it when the transaction commits. Returns its number."""
    (number,) = conn.execute(
        "INSERT INTO library_versions (library, manifest, units, vectors, published_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING version",
        (key, json.dumps(manifest.to_json()), units, vectors, time.time()),
    ).fetchone()
    conn.execute(
        "INSERT INTO libraries (library, current) VALUES (%s, %s) "
        "ON CONFLICT (library) DO UPDATE SET current = EXCLUDED.current",
        (key, number),
    )
    conn.execute("DELETE FROM library_versions WHERE library = %s AND version <> %s", (key, number))
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, key))
    return int(number)


def _claim_publication(conn: Any, job: int) -> None:
    """Mark a running build job published within the caller's transaction; BuildCancelled when it
    is not running any more (its waiter gave up), so nothing is published."""
    row = conn.execute(
        "UPDATE build_jobs SET status = 'published' WHERE id = %s AND status = 'running' RETURNING id", (job,)
    ).fetchone()
    if row is None:
        raise BuildCancelled("The build was cancelled before it was published; nothing was changed.")


def _lock_name(key: str) -> str:
    """The advisory lock's name (PostgreSQL prefixes the schema: advisory locks span a database)."""
    return f" citebot library {key}"


def _mirrored_version(mirror: Path) -> int | None:
    try:
        return int((mirror / VERSION).read_text("ascii").strip())
    except (OSError, ValueError):
        return None

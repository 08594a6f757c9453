"""The library store on one disk: a folder per library, with `CURRENT` naming the live build.

INDEX_DIR holds the default library (as before libraries existed); a server's library lives under
INDEX_DIR/servers/<id>/. A library's lock is an flock on its `.lock` file, which also records who
holds it, so a refused change can say who is building.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildInProgress, CitebotError, DiskFull
from .library_store import DEFAULT_KEY, library_key
from .store import (
    CURRENT,
    SOURCES,
    IndexManifest,
    NewVersion,
    StoredIndex,
    WriteStep,
    is_disk_full,
    keep_upload,
    load_index,
    read_manifest,
    remove_unfinished_builds,
    remove_unused_sources,
    write_index,
)

SERVERS = "servers"
LOCK = ".lock"
EMBEDDINGS = "embeddings"


@dataclass(frozen=True)
class FileLibraryStore:
    """Libraries as folders under `index_dir`; plain data, so a build process can be handed one."""

    index_dir: Path

    def directory(self, key: str) -> Path:
        """Where a library lives. The default one is INDEX_DIR itself, as before libraries."""
        if key == DEFAULT_KEY:
            return self.index_dir
        return self.index_dir / SERVERS / key.removeprefix("server-")

    def exists(self, key: str) -> bool:
        return (self.directory(key) / CURRENT).is_file()

    def read(self, key: str, *, model: str | None = None) -> StoredIndex:
        return load_index(self.directory(key), expected_model=model)

    def manifest(self, key: str) -> IndexManifest:
        return read_manifest(self.directory(key))

    def publish(self, key: str, version: NewVersion, on_step: WriteStep | None = None) -> StoredIndex:
        return write_index(self.directory(key), version, on_step=on_step)

    def keep_source(self, key: str, name: str, data: bytes) -> Path:
        try:
            return keep_upload(self.directory(key), name, data)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull("No space left on the disk that holds the index; nothing was changed.") from exc
            raise

    def drop_unused(self, key: str) -> None:
        directory = self.directory(key)
        try:
            used = {s.path for s in self.manifest(key).sources}
        except CitebotError:
            used = set()
        remove_unused_sources(directory, used)
        remove_unfinished_builds(directory)
        if key != DEFAULT_KEY and not self.exists(key):
            remove_library_files(directory)  # a server library whose first change failed: nothing stays

    def library_keys(self) -> list[str]:
        keys = [DEFAULT_KEY] if self.exists(DEFAULT_KEY) else []
        root = self.index_dir / SERVERS
        if root.is_dir():
            servers = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir())
            keys.extend(library_key(s) for s in servers if self.exists(library_key(s)))
        return keys

    @contextlib.contextmanager
    def locked(self, key: str, holder: str) -> Iterator[None]:
        directory = self.directory(key)
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / LOCK).open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                fh.seek(0)
                who = fh.read().strip() or "another process"
                raise BuildInProgress(
                    f"Another change to this library is running ({who}); try again when it finishes."
                ) from exc
            try:
                fh.seek(0)
                fh.truncate()
                fh.write(f"{holder}, process {os.getpid()} on {socket.gethostname()}")
                fh.flush()
                yield
            finally:
                with contextlib.suppress(OSError):
                    fh.truncate(0)
                fcntl.flock(fh, fcntl.LOCK_UN)

    def holder(self, key: str) -> str | None:
        path = self.directory(key) / LOCK
        if not path.exists():
            return None
        with path.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                return fh.read().strip() or "another process"
            fcntl.flock(fh, fcntl.LOCK_UN)
            return None

    def delete(self, key: str) -> bool:
        if key == DEFAULT_KEY:
            raise CitebotError("The default library cannot be deleted.")
        directory = self.directory(key)
        if not directory.exists():
            return False
        with self.locked(key, "deleting the library"):
            # One rename takes the library out of use at once; the files go after.
            trash = directory.parent / f".deleted-{directory.name}-{uuid.uuid4().hex[:8]}"
            directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def version(self, key: str) -> str | None:
        try:
            return (self.directory(key) / CURRENT).read_text("ascii").strip() or None
        except OSError:
            return None

    def versions(self, keys: list[str]) -> dict[str, str | None]:
        return {key: self.version(key) for key in keys}

    def watch(self, changed: Callable[[str | None], None]) -> Callable[[], None]:
        """Nothing to watch: one process serves a folder, and its own changes reach it directly."""
        return lambda: None

    def scratch(self, key: str) -> Path:
        return self.directory(key) / EMBEDDINGS

    def close(self) -> None:
        """Nothing held open: files are opened per use."""


def remove_library_files(directory: Path) -> None:
    """Remove a library folder's kept sources, embedding cache and builds (it has no version)."""
    for entry in (directory / SOURCES, directory / EMBEDDINGS, directory / "builds"):
        shutil.rmtree(entry, ignore_errors=True)

"""The library store's contract, run against each implementation.

A new implementation (another module) joins `IMPLEMENTATIONS` (and the `store` fixture) and must
pass the same tests. The PostgreSQL one runs against the test database (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citebot.index.build import BuildOptions, IndexBuilder, SourceFile
from citebot.index.errors import BuildInProgress, IndexMissing
from citebot.index.file_store import FileLibraryStore
from citebot.index.library_store import DEFAULT_KEY, LibraryStore, library_key, server_of

from ..conftest import drop_connections
from ..fakes import HashingEmbedder

IMPLEMENTATIONS = ("files", "postgres")
MODEL = "test/hashing-embedder"
HARBOUR = b"Harbour Vote\n\nThe council of Harbour Town voted to lease its disused docks.\n"
BAKERY = b"Bakery Opens\n\nA new bakery on Main Street sells rye bread every morning.\n"
SERVER = library_key(42)


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LibraryStore]:
    opened: LibraryStore
    if request.param == "postgres":
        from citebot.index.postgres_store import PostgresLibraryStore

        opened = PostgresLibraryStore(request.getfixturevalue("postgres_dsn"), tmp_path / "mirror")
        opened.upgrade()
    else:
        opened = FileLibraryStore(tmp_path / "store")
    yield opened
    opened.close()


def publish(store: LibraryStore, key: str, *documents: tuple[str, bytes], on_step=None) -> list[SourceFile]:
    """Keep `documents` and publish a version built from them (as a change does, under the lock)."""
    builder = IndexBuilder(HashingEmbedder(), BuildOptions(MODEL))
    with store.locked(key, "a test"):
        sources = [SourceFile(store.keep_source(key, name, data), name, "upload") for name, data in documents]
        builder.build(store, key, sources, on_step=on_step)
    return sources


def test_keys_name_libraries_and_servers() -> None:
    assert library_key(None) == DEFAULT_KEY and server_of(DEFAULT_KEY) is None
    assert server_of(library_key(42)) == 42


def test_a_library_without_a_version_does_not_exist(store: LibraryStore) -> None:
    assert not store.exists(SERVER)
    assert store.library_keys() == []
    with pytest.raises(IndexMissing):
        store.read(SERVER)
    assert store.holder(SERVER) is None


def test_a_published_version_is_read_back_whole(store: LibraryStore) -> None:
    publish(store, SERVER, ("harbour.txt", HARBOUR), ("bakery.txt", BAKERY))
    assert store.exists(SERVER) and store.library_keys() == [SERVER]
    stored = store.read(SERVER, model=MODEL)
    assert [d.meta.title for d in stored.documents] == ["Harbour Vote", "Bakery Opens"]
    assert stored.vectors.ntotal == len(stored.sentences) == 4  # each title and body sentence
    assert [s.name for s in store.manifest(SERVER).sources] == ["harbour.txt", "bakery.txt"]


def test_libraries_are_apart(store: LibraryStore) -> None:
    publish(store, SERVER, ("harbour.txt", HARBOUR))
    publish(store, DEFAULT_KEY, ("bakery.txt", BAKERY))
    assert store.library_keys() == [DEFAULT_KEY, SERVER]
    assert [d.meta.title for d in store.read(SERVER).documents] == ["Harbour Vote"]
    assert [d.meta.title for d in store.read(DEFAULT_KEY).documents] == ["Bakery Opens"]


@pytest.mark.parametrize("step", ["units", "vectors", "manifest", "renamed"])
def test_a_publish_that_fails_leaves_the_current_version(store: LibraryStore, step: str) -> None:
    publish(store, SERVER, ("harbour.txt", HARBOUR))

    def crash(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt(name)

    with pytest.raises(KeyboardInterrupt):
        publish(store, SERVER, ("bakery.txt", BAKERY), on_step=crash)
    assert [d.meta.title for d in store.read(SERVER).documents] == ["Harbour Vote"]


def test_a_kept_source_reads_back_the_same_bytes_and_one_content_is_kept_once(store: LibraryStore) -> None:
    with store.locked(SERVER, "a test"):
        first = store.keep_source(SERVER, "../../etc/passwd", HARBOUR)  # a name never chooses a path
        again = store.keep_source(SERVER, "copy.txt", HARBOUR)
    assert first.read_bytes() == HARBOUR and first == again
    assert "passwd" not in str(first)


def test_dropping_unused_sources_keeps_what_the_current_version_uses(store: LibraryStore) -> None:
    (used,) = publish(store, SERVER, ("harbour.txt", HARBOUR))
    with store.locked(SERVER, "a test"):
        unused = store.keep_source(SERVER, "bakery.txt", BAKERY)
        store.drop_unused(SERVER)
    assert used.path.exists() and not unused.exists()


def test_a_library_whose_first_change_failed_keeps_nothing(store: LibraryStore) -> None:
    with store.locked(SERVER, "a test"):
        kept = store.keep_source(SERVER, "bakery.txt", BAKERY)
        store.drop_unused(SERVER)
    assert not kept.exists() and not store.exists(SERVER)


def test_one_change_at_a_time_and_the_refusal_names_who_holds_it(store: LibraryStore) -> None:
    with store.locked(SERVER, "citebot docs add (a terminal)"):
        assert "citebot docs add (a terminal)" in (store.holder(SERVER) or "")
        with pytest.raises(BuildInProgress, match=r"citebot docs add \(a terminal\)"), store.locked(SERVER, "bot"):
            pass
        with store.locked(DEFAULT_KEY, "the bot"):  # another library is not held
            pass
    assert store.holder(SERVER) is None
    with store.locked(SERVER, "the bot"):  # free again
        pass


def test_a_deleted_library_is_gone_and_deleting_it_again_says_so(store: LibraryStore) -> None:
    publish(store, SERVER, ("harbour.txt", HARBOUR))
    assert store.delete(SERVER) is True
    assert not store.exists(SERVER) and store.library_keys() == []
    assert store.delete(SERVER) is False


def test_a_library_held_by_a_change_is_not_deleted_under_it(store: LibraryStore) -> None:
    publish(store, SERVER, ("harbour.txt", HARBOUR))
    with store.locked(SERVER, "a change"), pytest.raises(BuildInProgress):
        store.delete(SERVER)
    assert store.exists(SERVER)


def test_two_machines_sharing_postgres_see_one_library(postgres_dsn: str, tmp_path: Path) -> None:
    """Two engines with their own disks (mirrors) and one database: a change made by one is what
    the other answers from, and one holds a library's lock against the other."""
    from citebot.index.engine import Engine
    from citebot.index.library import NewDocument
    from citebot.index.postgres_store import PostgresLibraryStore

    from ..conftest import engine_config

    stores = [PostgresLibraryStore(postgres_dsn, tmp_path / f"machine-{n}") for n in (1, 2)]
    stores[0].upgrade()
    first, second = (Engine(engine_config(tmp_path / "unused"), HashingEmbedder(), store=s) for s in stores)
    first.library(42).add([NewDocument("harbour.txt", HARBOUR)], added_by="ann")
    assert "disused docks" in second.answering(42).answer("what did the council lease?").answer
    assert second.server_libraries() == [42]
    second.library(42).add([NewDocument("bakery.txt", BAKERY)])
    assert stores[0].read(SERVER).manifest.counts["documents"] == 2  # machine 1 reads the new version
    with stores[0].locked(SERVER, "a build on machine 1"):
        with pytest.raises(BuildInProgress, match="a build on machine 1"):
            second.library(42).add([NewDocument("library.txt", b"Library Hours\n\nIt opens at nine.\n")])
        assert "a build on machine 1" in (stores[1].holder(SERVER) or "")
    assert first.library(42).delete() and not stores[1].exists(SERVER) and stores[1].library_keys() == []


def test_a_library_changed_elsewhere_is_reloaded_by_every_process_holding_it(postgres_dsn: str, tmp_path: Path) -> None:
    """Publishing announces the library (LISTEN/NOTIFY); a process holding it reloads it on its own,
    before anyone asks, and forgets it when it is deleted."""
    import time

    from citebot.index.engine import Engine
    from citebot.index.library import NewDocument
    from citebot.index.postgres_store import PostgresLibraryStore

    from ..conftest import engine_config

    stores = [PostgresLibraryStore(postgres_dsn, tmp_path / f"machine-{n}") for n in (1, 2)]
    stores[0].upgrade()
    first, second = (Engine(engine_config(tmp_path / "unused"), HashingEmbedder(), store=s) for s in stores)
    first.library(42).add([NewDocument("harbour.txt", HARBOUR)])
    second.answering(42).loaded()  # held in memory by the second process
    second.watch_libraries()
    try:

        def held_documents() -> int | None:
            live = second.libraries.get(SERVER)
            return None if live is None else live.stored.manifest.counts["documents"]

        def wait_for(expected: int | None) -> None:
            deadline = time.monotonic() + 10
            while held_documents() != expected and time.monotonic() < deadline:
                time.sleep(0.05)
            assert held_documents() == expected

        first.library(42).add([NewDocument("bakery.txt", BAKERY)])
        wait_for(2)  # reloaded, nobody asked
        assert "rye bread" in second.answering(42).answer("what does the new bakery sell?").answer
        first.library(42).delete()
        wait_for(None)
        assert second.answering(42).is_default
    finally:
        second.close()
        first.close()


def test_a_connection_the_server_drops_is_replaced(postgres_dsn: str, tmp_path: Path) -> None:
    """Short statements run on pooled connections, each checked before use: after a database
    restart or pg_terminate_backend the next look-up simply works."""
    import os

    from citebot.index.postgres_store import PostgresLibraryStore

    store = PostgresLibraryStore(postgres_dsn, tmp_path / "mirror")
    store.upgrade()
    try:
        publish(store, SERVER, ("harbour.txt", HARBOUR))
        version = store.version(SERVER)
        assert drop_connections(postgres_dsn, f"citebot {os.getpid()}") >= 1
        assert store.version(SERVER) == version
        assert store.read(SERVER).manifest.counts["documents"] == 1
    finally:
        store.close()

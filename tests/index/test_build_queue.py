"""Builds as jobs in PostgreSQL: a bot's engine queues them, `citebot worker` runs them.

The worker here is a thread of the test with a mirror of its own, as if on another machine; the
e2e fleet test (tests/e2e/test_fleet.py) runs real worker processes and kills one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from citebot.index.build import BuildOptions, BuildProgress, BuildReport, IndexBuilder, SourceFile
from citebot.index.build_queue import BuildWorker, NoBuildWorker, QueuedBuilds
from citebot.index.engine import Engine
from citebot.index.errors import BuildCancelled, BuildCrashed, BuildTimedOut, DocumentRejected
from citebot.index.library import NewDocument
from citebot.index.library_store import LibraryStore, library_key
from citebot.index.postgres_store import PostgresLibraryStore

from ..conftest import engine_config
from ..fakes import HashingEmbedder

MODEL = "test/hashing-embedder"
HARBOUR = NewDocument("harbour.txt", b"Harbour Vote\n\nThe council of Harbour Town voted to lease its disused docks.\n")
SERVER = 7 << 22 | 1  # a snowflake-sized id


class LocalBuilds:
    """The bot's own runner for configured files (a child process in the bot; here, in-process)."""

    def __init__(self) -> None:
        self.builder = IndexBuilder(HashingEmbedder(), BuildOptions(MODEL))
        self.calls = 0

    def __call__(
        self,
        store: LibraryStore,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        *,
        timeout: float,
    ) -> BuildReport:
        self.calls += 1
        return self.builder.build(store, key, sources, progress=progress)

    def close(self) -> None:
        pass


class Fleet:
    """One bot engine and the pieces a test drives: its queue, and workers it starts."""

    def __init__(self, dsn: str, root: Path) -> None:
        self.dsn = dsn
        self.root = root
        store = PostgresLibraryStore(dsn, root / "bot" / "mirror")
        store.upgrade()
        self.local = LocalBuilds()
        self.queue = QueuedBuilds(store, self.local, poll=0.05, no_worker_grace=3.0)
        self.engine = Engine(
            engine_config(root / "bot"), embedder=HashingEmbedder(), store=store, build_runner=self.queue
        )
        self.stops: list[tuple[threading.Event, threading.Thread]] = []

    def worker(self, builder: IndexBuilder | None = None, name: str = "worker") -> BuildWorker:
        store = PostgresLibraryStore(self.dsn, self.root / name / "mirror")
        worker = BuildWorker(store, lambda: builder or IndexBuilder(HashingEmbedder(), BuildOptions(MODEL)))
        stop = threading.Event()
        thread = threading.Thread(target=worker.serve, args=(stop,), kwargs={"idle_check": 0.1}, daemon=True)
        thread.start()
        self.stops.append((stop, thread))
        return worker

    def jobs(self) -> list[tuple[str, str]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return [(str(s), str(k)) for s, k in conn.execute("SELECT status, library FROM build_jobs ORDER BY id")]

    def close(self) -> None:
        self.engine.close()
        for stop, thread in self.stops:
            stop.set()
            thread.join(10)


@pytest.fixture
def fleet(postgres_dsn: str, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(postgres_dsn, tmp_path)
    yield fleet
    fleet.close()


class SlowBuilder(IndexBuilder):
    """Builds as usual, but waits at its first progress report until released."""

    def __init__(self) -> None:
        super().__init__(HashingEmbedder(), BuildOptions(MODEL))
        self.started = threading.Event()
        self.release = threading.Event()

    def build(self, store, key, sources, *, progress=None, on_step=None, previous=None):  # type: ignore[no-untyped-def]
        def held(stage: str, done: int, total: int) -> None:
            self.started.set()
            self.release.wait(20)
            if progress is not None:
                progress(stage, done, total)

        return super().build(store, key, sources, progress=held, on_step=on_step, previous=previous)


def test_a_change_is_built_by_a_worker_and_answered_at_once(fleet: Fleet) -> None:
    worker = fleet.worker()
    seen: list[tuple[str, int, int]] = []
    library = fleet.engine.library(SERVER)

    report = library.add([HARBOUR], added_by="Ana", progress=lambda *step: seen.append(step))

    assert report.titles == ("Harbour Vote",)
    assert worker.built == 1 and fleet.local.calls == 0
    assert fleet.jobs() == [("done", library_key(SERVER))]
    assert seen and {stage for stage, _, _ in seen} <= {"queued", "parsing", "embedding", "relating", "writing", "done"}
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT stage FROM build_jobs").fetchone() == ("done",)  # its last report
    assert library.answer("What did the council vote to lease?").citations[0].text.startswith("The council")
    assert [d.title for d in library.describe().documents] == ["Harbour Vote"]


def test_the_default_library_of_configured_files_is_built_beside_the_bot(fleet: Fleet) -> None:
    answer = fleet.engine.default.answer("Why is Carney going to China?")

    assert fleet.local.calls == 1 and fleet.jobs() == []
    assert answer.citations


def test_an_error_in_the_worker_reaches_the_admin_as_itself(fleet: Fleet) -> None:
    class Refusing(IndexBuilder):
        def build(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise DocumentRejected("harbour.txt holds no readable text.")

    fleet.worker(Refusing(HashingEmbedder(), BuildOptions(MODEL)))
    library = fleet.engine.library(SERVER)

    with pytest.raises(DocumentRejected, match="no readable text"):
        library.add([HARBOUR])

    assert not library.exists
    assert fleet.jobs() == [("failed", library_key(SERVER))]
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM library_sources").fetchone() == (0,)


def test_a_worker_that_dies_mid_build_publishes_nothing_and_the_admin_is_told(fleet: Fleet) -> None:
    slow = SlowBuilder()
    worker = fleet.worker(slow)
    library = fleet.engine.library(SERVER)
    failure: list[BaseException] = []
    adding = threading.Thread(target=lambda: _catch(failure, lambda: library.add([HARBOUR])))
    adding.start()
    assert slow.started.wait(10)
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:  # the worker's connection dies, as with kill -9
        (pid,) = conn.execute("SELECT worker_pid FROM build_jobs").fetchone()
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    adding.join(10)
    slow.release.set()

    assert len(failure) == 1 and isinstance(failure[0], BuildCrashed)
    assert f"({worker.name}) stopped mid-build" in str(failure[0])
    time.sleep(0.5)  # the worker goes on to try to publish: refused
    assert not library.exists and fleet.jobs() == [("failed", library_key(SERVER))]


def test_a_build_past_its_budget_is_cancelled_and_never_published(fleet: Fleet) -> None:
    slow = SlowBuilder()
    fleet.worker(slow)
    fleet.engine = Engine(
        engine_config(fleet.root / "bot", build_timeout_seconds=0.5),
        embedder=HashingEmbedder(),
        store=fleet.queue.store,
        build_runner=fleet.queue,
    )
    library = fleet.engine.library(SERVER)

    with pytest.raises(BuildTimedOut):
        library.add([HARBOUR])
    slow.release.set()

    time.sleep(0.5)  # the worker goes on to try to publish: refused
    assert not library.exists and fleet.jobs() == [("cancelled", library_key(SERVER))]


def test_with_no_worker_alive_a_change_is_refused_clearly(fleet: Fleet) -> None:
    library = fleet.engine.library(SERVER)

    with pytest.raises(NoBuildWorker, match="citebot worker"):
        library.add([HARBOUR])

    assert not library.exists and fleet.jobs() == [("cancelled", library_key(SERVER))]


def test_two_workers_share_the_queue_and_each_job_runs_once(fleet: Fleet) -> None:
    workers = [fleet.worker(name="worker-a"), fleet.worker(name="worker-b")]
    servers = [SERVER + n for n in range(4)]
    errors: list[BaseException] = []

    def add(server: int) -> None:
        try:
            fleet.engine.library(server).add(
                [NewDocument(f"d{server}.txt", f"Title {server}\n\nBody {server}.\n".encode())]
            )
        except Exception as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert sum(w.built for w in workers) == 4
    assert sorted(fleet.jobs()) == sorted(("done", library_key(s)) for s in servers)


def test_stopping_the_bot_cancels_the_build_it_waits_for(fleet: Fleet) -> None:
    slow = SlowBuilder()
    fleet.worker(slow)
    library = fleet.engine.library(SERVER)
    failure: list[BaseException] = []
    adding = threading.Thread(target=lambda: _catch(failure, lambda: library.add([HARBOUR])))
    adding.start()
    assert slow.started.wait(10)

    fleet.queue.close()
    adding.join(10)
    slow.release.set()

    assert len(failure) == 1 and isinstance(failure[0], BuildCancelled)
    time.sleep(0.5)
    assert not library.exists and fleet.jobs() == [("cancelled", library_key(SERVER))]


def _catch(into: list[BaseException], call) -> None:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the test looks at whatever was raised
        into.append(exc)


def test_a_watching_engine_looks_up_a_server_without_a_library_once_until_it_changes(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[str] = []
    exists = PostgresLibraryStore.exists

    def counted(self: PostgresLibraryStore, key: str) -> bool:
        looked.append(key)
        return exists(self, key)

    monkeypatch.setattr(PostgresLibraryStore, "exists", counted)
    fleet.engine.watch_libraries()
    fleet.worker()
    assert fleet.engine.answering(SERVER).is_default and fleet.engine.answering(SERVER).is_default
    assert looked.count(library_key(SERVER)) == 1

    other = Engine(
        engine_config(fleet.root / "other"),
        embedder=HashingEmbedder(),
        store=PostgresLibraryStore(fleet.dsn, fleet.root / "other" / "mirror"),
    )
    other.library(SERVER).add([HARBOUR])  # another process publishes the server's first version
    deadline = time.monotonic() + 5
    while fleet.engine.answering(SERVER).is_default and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not fleet.engine.answering(SERVER).is_default


def test_a_waiting_change_shows_its_place_in_the_fleet_queue(fleet: Fleet) -> None:
    shown: dict[int, list[tuple[str, int, int]]] = {SERVER: [], SERVER + 1: []}
    errors: list[Exception] = []

    def add(server: int) -> None:
        document = NewDocument(f"d{server}.txt", f"Title {server}\n\nBody {server}.\n".encode())
        _catch(
            errors, lambda: fleet.engine.library(server).add([document], progress=lambda *s: shown[server].append(s))
        )

    first = threading.Thread(target=add, args=(SERVER,))
    first.start()
    time.sleep(0.2)  # queued first
    second = threading.Thread(target=add, args=(SERVER + 1,))
    second.start()
    time.sleep(0.3)  # no worker yet: both wait in line
    fleet.worker()
    first.join(10)
    second.join(10)

    assert errors == []
    assert shown[SERVER][0] == ("queued", 1, 0)
    assert shown[SERVER + 1][0] == ("queued", 2, 0)

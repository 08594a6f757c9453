"""Builds as jobs in the fleet's PostgreSQL, run by `citebot worker` processes on any machine.

A bot process that changes a library holds the library's lock (so one build per library runs
across the fleet), queues a job with the sources to build from, and waits for it, showing its
place in the queue and then the worker's progress. A worker claims the oldest queued job with
`FOR UPDATE SKIP LOCKED`, builds it with the model it keeps loaded, and publishes the new version
in the same transaction that marks the job published. A worker killed mid-build leaves its job
running with a dead database connection: the waiting process sees that at once, marks the job
failed and tells the admin; nothing was published. A waiter that gives up (its time budget, the
bot stopping) cancels the job, and a cancelled job can no longer be published.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .build import BuildProgress, BuildReport, IndexBuilder, Provenance, SourceFile
from .build_process import received_error
from .errors import BuildCancelled, BuildCrashed, BuildTimedOut, CitebotError
from .library_store import LibraryStore
from .postgres_store import PostgresLibraryStore

if TYPE_CHECKING:
    from .engine import BuildRunner

log = logging.getLogger(__name__)
T = TypeVar("T")

JOBS_CHANNEL = "citebot_build_jobs"  # NOTIFY: a job was queued
POLL_SECONDS = 0.2  # how often a waiting process looks at its job
PROGRESS_SECONDS = 0.5  # how often a worker writes its progress (and sees a cancellation)
NO_WORKER_GRACE_SECONDS = 30.0  # how long a job waits with no worker alive before it is refused

# A worker is alive while the connection it registered with is: PostgreSQL ends a backend as soon as
# its client's socket closes, so a killed worker is seen at the next look.
_WORKER_ALIVE = "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = {pid} AND a.backend_start = {since})"
_LIVE_WORKERS = "SELECT count(*) FROM build_workers w WHERE " + _WORKER_ALIVE.format(
    pid="w.backend_pid", since="w.backend_since"
)


class NoBuildWorker(CitebotError):
    """No `citebot worker` process is running to build the library."""


class QueuedBuilds:
    """The build runner of a fleet's bot processes: every build is a job for the workers.

    A build of configured files (the default library's corpus, which lives beside each process)
    runs in `local` instead, a child process of this one, as in the embedded mode."""

    def __init__(
        self,
        store: PostgresLibraryStore,
        local: BuildRunner,
        *,
        poll: float = POLL_SECONDS,
        no_worker_grace: float = NO_WORKER_GRACE_SECONDS,
    ) -> None:
        self.store = store
        self.local = local
        self.poll = poll
        self.no_worker_grace = no_worker_grace
        self._closed = threading.Event()

    def __call__(
        self,
        store: LibraryStore,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        *,
        timeout: float = 600.0,
    ) -> BuildReport:
        if any(source.origin != "upload" for source in sources):
            return self.local(store, key, sources, progress, timeout=timeout)
        if self._closed.is_set():
            raise BuildCancelled("citebot is stopping; the build was not started.")
        report = progress or (lambda _stage, _done, _total: None)
        started = time.perf_counter()
        job = self._on_database(enqueue, key, sources)
        result = self._wait(job, report, timeout)
        stored = self.store.read(key)
        return BuildReport(
            stored.manifest,
            tuple(result.get("titles") or (d.meta.title for d in stored.documents)),
            time.perf_counter() - started,
            stored,
            int(result.get("embedded_sentences", 0)),
        )

    def _on_database(self, operation: Callable[..., T], *args: Any) -> T:
        """One step on a pooled connection: up to 32 builds wait at once, each looking every 0.2 s."""
        with self.store.pooled() as conn:
            return operation(conn, *args)

    def _wait(self, job: int, progress: BuildProgress, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        alone_since: float | None = None
        shown: tuple[Any, ...] = ()
        while True:
            look = self._on_database(look_at, job)
            if look.status in ("published", "done"):
                if look.result is not None or not look.worker_alive:
                    return look.result or {}
            elif look.status == "failed":
                raise received_error(("error", look.error["module"], look.error["class"], look.error["text"]))
            elif look.status == "cancelled":
                raise BuildCancelled("The build was cancelled; nothing was changed.")
            elif look.status == "running" and not look.worker_alive:
                crashed = BuildCrashed("The build worker stopped mid-build; nothing was published.")
                if self._on_database(fail, job, crashed):
                    raise BuildCrashed(
                        f"The build worker ({look.worker}) stopped mid-build; nothing was published. Try again."
                    )
                continue  # it finished meanwhile: look again
            now = time.monotonic()
            if look.status == "queued":
                if look.live_workers:
                    alone_since = None
                elif alone_since is None:
                    alone_since = now
                elif now - alone_since > self.no_worker_grace and self._on_database(cancel, job):
                    raise NoBuildWorker(
                        "No build worker is running, so the library cannot be changed now; "
                        "the operator starts one with `citebot worker`."
                    )
                current: tuple[Any, ...] = ("queued", look.position, 0)
            else:
                current = (look.stage or "parsing", look.done, look.total)
            if current != shown:
                progress(*current)
                shown = current
            if now > deadline and self._on_database(cancel, job):
                raise BuildTimedOut.after(timeout)
            if self._closed.is_set() and self._on_database(cancel, job):
                raise BuildCancelled("citebot is stopping; the build was stopped and nothing was changed.")
            self._closed.wait(self.poll)

    def export_model(self) -> None:
        """The ONNX export of the model, made in this machine's child process (for questions here)."""
        export = getattr(self.local, "export_model", None)
        if export is None:
            raise CitebotError("No build process here to export the model in.")
        export()

    def close(self) -> None:
        """Stop waiting: jobs waited on are cancelled (a worker stops them at its next progress)."""
        self._closed.set()
        self.local.close()


@dataclass(frozen=True)
class JobLook:
    """A job as its waiter sees it."""

    status: str
    stage: str | None
    done: int
    total: int
    result: dict[str, Any] | None
    error: dict[str, str]
    worker: str | None
    worker_alive: bool
    position: int  # 1 = next to be claimed
    live_workers: int


def enqueue(conn: Any, key: str, sources: list[SourceFile]) -> int:
    """Queue a build of library `key` from these (uploaded, kept) sources; returns the job's id."""
    with conn.transaction():
        (job,) = conn.execute(
            "INSERT INTO build_jobs (library, sources, status, enqueued_at) VALUES (%s, %s, 'queued', %s) RETURNING id",
            (key, json.dumps([source_json(s) for s in sources]), time.time()),
        ).fetchone()
        conn.execute("SELECT pg_notify(%s, %s)", (JOBS_CHANNEL, str(job)))
    return int(job)


def look_at(conn: Any, job: int) -> JobLook:
    row = conn.execute(
        "SELECT status, stage, done, total, result, error, worker, "
        + _WORKER_ALIVE.format(pid="j.worker_pid", since="j.worker_since")
        + ", (SELECT count(*) FROM build_jobs q WHERE q.status = 'queued' AND q.id <= j.id), ("
        + _LIVE_WORKERS
        + ") FROM build_jobs j WHERE j.id = %s",
        (job,),
    ).fetchone()
    if row is None:
        raise BuildCrashed("The build job disappeared from the database; nothing was published.")
    status, stage, done, total, result, error, worker, alive, position, workers = row
    return JobLook(status, stage, done, total, result, error or {}, worker, bool(alive), int(position), int(workers))


def queue_depth(store: PostgresLibraryStore) -> float:
    """Jobs waiting for a worker now (NaN when the database does not answer)."""
    try:
        with store.pooled() as conn:
            (count,) = conn.execute("SELECT count(*) FROM build_jobs WHERE status = 'queued'").fetchone()
        return float(count)
    except Exception:  # noqa: BLE001 - a scrape must not fail because the database is away
        return float("nan")


def cancel(conn: Any, job: int) -> bool:
    """Cancel a job not yet published; False when it was published (or ended) first."""
    row = conn.execute(
        "UPDATE build_jobs SET status = 'cancelled', finished_at = %s "
        "WHERE id = %s AND status IN ('queued', 'running') RETURNING id",
        (time.time(), job),
    ).fetchone()
    return row is not None


def fail(conn: Any, job: int, error: CitebotError) -> bool:
    """Mark a job not yet published as failed with `error`; False when it had ended already."""
    row = conn.execute(
        "UPDATE build_jobs SET status = 'failed', error = %s, finished_at = %s "
        "WHERE id = %s AND status IN ('queued', 'running') RETURNING id",
        (json.dumps(error_json(error)), time.time(), job),
    ).fetchone()
    return row is not None


def error_json(error: CitebotError) -> dict[str, str]:
    """An error as a job keeps it: its class by module and name (it arrives as that class) and text."""
    return {"module": type(error).__module__, "class": type(error).__qualname__, "text": str(error)}


def source_json(source: SourceFile) -> dict[str, Any]:
    return {
        "path": str(source.path),
        "name": source.name,
        "origin": source.origin,
        "added_by": source.added_by,
        "added_at": source.added_at,
        "sha256": source.sha256,
        "url": source.url,
        "via": source.provenance.via,
        "title": source.provenance.title,
        "link": source.provenance.link,
    }


def source_of(data: dict[str, Any]) -> SourceFile:
    return SourceFile(
        Path(data["path"]),
        data["name"],
        data["origin"],
        data.get("added_by"),
        data.get("added_at"),
        data.get("sha256", ""),
        url=data.get("url"),
        provenance=Provenance(data.get("via"), data.get("title"), data.get("link")),
    )


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    key: str
    sources: list[SourceFile]


class BuildWorker:
    """`citebot worker`: claims queued builds one at a time and runs them with one loaded model.

    `make_builder` is called at the first job (the model loads then, once). The worker registers
    its listening connection, so waiting processes can tell it is alive."""

    def __init__(
        self,
        store: PostgresLibraryStore,
        make_builder: Callable[[], IndexBuilder],
        *,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self.store = store
        self.make_builder = make_builder
        self.observe = observe or (lambda _outcome, _seconds: None)  # each build: outcome, seconds
        self.name = f"process {os.getpid()} on {socket.gethostname()}"
        self._builder: IndexBuilder | None = None
        self.built = 0
        self.connected = False  # registered, on a live connection

    def serve(self, stop: threading.Event, *, idle_check: float = 1.0) -> None:
        """Run jobs until `stop` is set; a lost database connection is retried with back-off."""
        delay = 0.5
        while not stop.is_set():
            try:
                with self.store.connect("citebot worker") as conn:
                    self._register(conn)
                    conn.execute(f"LISTEN {JOBS_CHANNEL}")
                    self.connected, delay = True, 0.5
                    log.info("Build worker ready (%s).", self.name)
                    while not stop.is_set():
                        if self.run_one(conn):
                            continue
                        for _ in conn.notifies(timeout=idle_check, stop_after=1):
                            break
            except Exception:
                self.connected = False
                if stop.is_set():
                    return
                log.warning("Lost the database; reconnecting in %g s.", delay, exc_info=True)
                stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _register(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute(
                "DELETE FROM build_workers w WHERE NOT "
                + _WORKER_ALIVE.format(pid="w.backend_pid", since="w.backend_since")
            )
            conn.execute(
                "INSERT INTO build_workers SELECT %s, pid, backend_start, %s FROM pg_stat_activity "
                "WHERE pid = pg_backend_pid() ON CONFLICT (name) DO UPDATE "
                "SET backend_pid = EXCLUDED.backend_pid, backend_since = EXCLUDED.backend_since, "
                "seen_at = EXCLUDED.seen_at",
                (self.name, time.time()),
            )

    def claim(self, conn: Any) -> ClaimedJob | None:
        """The oldest queued job, now marked running by this worker's connection; None if none waits."""
        row = conn.execute(
            "UPDATE build_jobs SET status = 'running', worker = %s, worker_pid = pg_backend_pid(), "
            "worker_since = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), "
            "started_at = %s WHERE id = (SELECT id FROM build_jobs WHERE status = 'queued' "
            "ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id, library, sources",
            (self.name, time.time()),
        ).fetchone()
        if row is None:
            return None
        job, key, sources = row
        return ClaimedJob(int(job), str(key), [source_of(s) for s in sources])

    def run_one(self, conn: Any) -> bool:
        """Claim and run one job; False when none was waiting."""
        job = self.claim(conn)
        if job is None:
            return False
        started = time.perf_counter()
        try:
            built = self._build(conn, job)
        except Exception as exc:
            error = exc if isinstance(exc, CitebotError) else None
            if error is None:
                log.exception("Build %d of %s failed", job.id, job.key)
                error = CitebotError(f"The build failed unexpectedly ({type(exc).__name__}).")
            else:
                log.info("Build %d of %s ended: %s", job.id, job.key, error)
            if not fail(conn, job.id, error):  # it was published before the failure: that stands
                self._finish(conn, job.id, {})
            self.store.tidy_mirror(job.key)
            self.observe("cancelled" if isinstance(error, BuildCancelled) else "failed", time.perf_counter() - started)
            return True
        self._finish(conn, job.id, {"titles": list(built.titles), "embedded_sentences": built.embedded_sentences})
        self.observe("published", time.perf_counter() - started)
        self.built += 1
        log.info("Built %s (job %d) in %.1f s.", job.key, job.id, time.perf_counter() - started)
        return True

    def _finish(self, conn: Any, job: int, result: dict[str, Any]) -> None:
        conn.execute(
            "UPDATE build_jobs SET status = 'done', result = %s, finished_at = %s "
            "WHERE id = %s AND status = 'published'",
            (json.dumps(result), time.time(), job),
        )

    def _build(self, conn: Any, job: ClaimedJob) -> BuildReport:
        if self._builder is None:
            self._builder = self.make_builder()
        sources = self.store.local_sources(job.key, job.sources)
        publishing = dataclasses.replace(self.store, job=job.id)
        return self._builder.build(publishing, job.key, sources, progress=_reporting(conn, job.id))


def _reporting(conn: Any, job: int) -> BuildProgress:
    """Progress that writes itself into the job every PROGRESS_SECONDS, and stops the build
    (BuildCancelled) once its waiter has cancelled it."""
    last = 0.0

    def report(stage: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_SECONDS and done not in (0, total):
            return
        last = now
        row = conn.execute(
            "UPDATE build_jobs SET stage = %s, done = %s, total = %s WHERE id = %s RETURNING status",
            (stage, done, total, job),
        ).fetchone()
        if row is None or row[0] not in ("running", "published"):
            raise BuildCancelled("The build was cancelled; nothing was changed.")

    return report

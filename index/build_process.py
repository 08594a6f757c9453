"""Builds in a spawned child process, so the serving process never holds the build model.

The child loads the embedder once (the ONNX export, fed batches sorted by length, when there is
one: no torch; else sentence-transformers, which then makes the export), runs the builds sent to
it one at a time, reports progress over a pipe and writes each index with the usual atomic swap.
The parent loads what was written. A child with nothing to do for `linger` seconds exits, and its
memory goes back to the system; builds queued meanwhile share its loaded model.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import sys
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .build import BuildOptions, BuildProgress, BuildReport, IndexBuilder, SourceFile
from .embed import Embedder, SentenceTransformerEmbedder
from .errors import BuildCancelled, BuildCrashed, BuildTimedOut, CitebotError
from .library_store import LibraryStore

log = logging.getLogger(__name__)
EXPORT = "export"  # a job a child runs instead of a build: export the model to ONNX


@dataclass(frozen=True)
class ChildSpec:
    """What a build process needs to load its embedder: plain values, sent once at spawn."""

    model: str
    index_dir: Path
    options: BuildOptions
    query_encoder: str = "auto"


@dataclass(frozen=True)
class _Job:
    store: LibraryStore
    key: str
    sources: tuple[SourceFile, ...]


class BuildProcess:
    """One spawned child that runs builds one at a time with its model loaded once."""

    def __init__(self, spec: ChildSpec) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._conn, child_end = context.Pipe()
        # Not a daemon: a build splits large documents in worker processes of its own. It exits when the
        # pipe closes, the parent gone.
        self.process = context.Process(target=_child_main, args=(child_end, spec), name="citebot-build")
        self.process.start()
        child_end.close()

    def run(self, job: _Job | str, progress: BuildProgress, timeout: float) -> dict[str, Any]:
        self._conn.send(job)
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise BuildTimedOut.after(timeout)
            try:
                ready = self._conn.poll(0.1)
            except (OSError, ValueError) as exc:  # closed from another thread: the bot is stopping
                raise BuildCrashed("The build was stopped; nothing was changed.") from exc
            if not ready:
                if not self.process.is_alive():
                    raise BuildCrashed("The build stopped unexpectedly (its process ended); nothing was changed.")
                continue
            try:
                message = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise BuildCrashed("The build stopped unexpectedly (its process ended); nothing was changed.") from exc
            kind = message[0]
            if kind == "progress":
                progress(*message[1:])
            elif kind == "done":
                return dict(message[1])
            else:
                raise received_error(message)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to exit; end it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._conn.close()


class ChildBuilds:
    """The build runner the engine calls: each build goes to an idle child, or a new one.

    At most one child per build running at once; each serves build after build with one model,
    and exits after `linger` idle seconds.
    """

    def __init__(self, spec: ChildSpec, *, linger: float = 5.0) -> None:
        self.spec = spec
        self.linger = linger
        self._lock = threading.Lock()
        self._idle: list[tuple[BuildProcess, float]] = []
        self._busy: set[BuildProcess] = set()
        self._reaper: threading.Timer | None = None
        self._closed = False

    def __call__(
        self,
        store: LibraryStore,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        *,
        timeout: float = 600.0,
    ) -> BuildReport:
        child = self._acquire()
        started = time.perf_counter()
        report = progress or (lambda _stage, _done, _total: None)
        # The parsed documents stay here: the child parses what it builds.
        job = _Job(store, key, tuple(replace(s, parsed=None) for s in sources))
        try:
            result = child.run(job, report, timeout)
        except (BuildCrashed, BuildTimedOut) as exc:
            self._discard(child)  # ended at once: what it was writing is removed by the next build
            if self._closed:
                raise BuildCancelled("citebot is stopping; the build was stopped and nothing was changed.") from exc
            raise
        except BaseException:
            self._release(child)
            raise
        self._release(child)
        stored = store.read(key, model=self.spec.options.model_id)
        return BuildReport(
            stored.manifest,
            tuple(result["titles"]),
            time.perf_counter() - started,
            stored,
            int(result["embedded_sentences"]),
        )

    def _acquire(self) -> BuildProcess:
        with self._lock:
            if self._closed:
                raise CitebotError("The bot is shutting down; try again when it is back.")
            while self._idle:
                child, _ = self._idle.pop()
                if child.alive:
                    self._busy.add(child)
                    return child
                child.close()
            child = BuildProcess(self.spec)
            self._busy.add(child)
            return child

    def _release(self, child: BuildProcess) -> None:
        with self._lock:
            self._busy.discard(child)
            if self._closed:
                child.close()
                return
            self._idle.append((child, time.monotonic()))
            self._schedule_reaper()

    def _discard(self, child: BuildProcess) -> None:
        with self._lock:
            self._busy.discard(child)
        child.close(timeout=1.0)

    def _schedule_reaper(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        self._reaper = threading.Timer(self.linger, self._reap)
        self._reaper.daemon = True
        self._reaper.start()

    def _reap(self) -> None:
        """Close children idle for `linger` seconds: their memory goes back to the system."""
        now = time.monotonic()
        with self._lock:
            keep: list[tuple[BuildProcess, float]] = []
            done: list[tuple[BuildProcess, float]] = []
            for child, since in self._idle:
                (done if now - since >= self.linger * 0.99 else keep).append((child, since))
            self._idle = keep
            if keep:
                self._schedule_reaper()
        for child, _ in done:
            child.close()

    def export_model(self, timeout: float = 600.0) -> None:
        """Export the model to ONNX under the spec's INDEX_DIR in a child process, so that this
        process embeds questions without ever loading torch."""
        child = self._acquire()
        try:
            child.run(EXPORT, lambda _stage, _done, _total: None, timeout)
        except (BuildCrashed, BuildTimedOut):
            self._discard(child)
            raise
        except BaseException:
            self._release(child)
            raise
        self._release(child)

    @property
    def pids(self) -> list[int]:
        """Process ids of the build processes alive now (busy or idle)."""
        with self._lock:
            children = list(self._busy) + [c for c, _ in self._idle]
        return [c.process.pid for c in children if c.alive and c.process.pid is not None]

    def close(self) -> None:
        """End every child; a build running in one fails with BuildCrashed and changes nothing."""
        with self._lock:
            self._closed = True
            if self._reaper is not None:
                self._reaper.cancel()
            idle = [c for c, _ in self._idle]
            busy = list(self._busy)
            self._idle = []
        for child in busy:
            child.close(timeout=0)  # mid-build: ended at once
        for child in idle:
            child.close(timeout=2.0)


def _child_main(conn: Connection, spec: ChildSpec) -> None:
    """The child: load the embedder on the first job, then build until told to stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when builds stop
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (build process): %(message)s")
    builder: IndexBuilder | None = None
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        if job == EXPORT:
            try:
                export_model(spec)
                conn.send(("done", {}))
            except Exception as exc:
                log.exception("Export failed")
                send_error(conn, CitebotError(f"The model could not be exported ({type(exc).__name__})."))
            continue
        try:
            if builder is None:
                builder = build_model_builder(spec)
            built = builder.build(
                job.store,
                job.key,
                list(job.sources),
                progress=lambda stage, done, total: conn.send(("progress", stage, done, total)),
            )
            conn.send(("done", {"titles": list(built.titles), "embedded_sentences": built.embedded_sentences}))
        except CitebotError as exc:
            send_error(conn, exc)
        except Exception as exc:
            log.exception("Build failed")
            send_error(conn, CitebotError(f"The build failed unexpectedly ({type(exc).__name__})."))


def export_model(spec: ChildSpec) -> None:
    """Load the sentence-transformers model and export it to ONNX under `spec.index_dir`."""
    from .onnx_encoder import export_onnx

    model = SentenceTransformerEmbedder(spec.model)
    with model.exclusive() as loaded:
        export_onnx(loaded, spec.options.model_id, spec.index_dir)


def send_error(conn: Connection, exc: CitebotError) -> None:
    """Tell the parent why a build failed, by its class's module and name: it arrives as that class."""
    conn.send(("error", type(exc).__module__, type(exc).__qualname__, str(exc)))


def received_error(message: tuple[Any, ...]) -> CitebotError:
    """The error a build process sent, rebuilt as its own class (a citebot error class, by name)."""
    _, module_name, class_name, text = message
    error_type: Any = CitebotError
    if isinstance(module_name, str) and module_name.startswith("citebot."):
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        found = getattr(module, class_name, None)
        if isinstance(found, type) and issubclass(found, CitebotError):
            error_type = found
    return error_type(text)


def build_model_builder(spec: ChildSpec) -> IndexBuilder:
    """The ONNX export when there is one (torch-free); else sentence-transformers, exporting once."""
    from .onnx_encoder import export_onnx, load_onnx_embedder

    if spec.query_encoder != "sentence-transformers":
        onnx = load_onnx_embedder(spec.index_dir, spec.options.model_id)
        if onnx is not None:
            return IndexBuilder(onnx, spec.options)
    model = SentenceTransformerEmbedder(spec.model)

    def export() -> None:
        if spec.query_encoder == "sentence-transformers":
            return
        with model.exclusive() as loaded:
            export_onnx(loaded, spec.options.model_id, spec.index_dir)

    embedder: Embedder = model
    return IndexBuilder(embedder, spec.options, before_write=export)

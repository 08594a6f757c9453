"""What every library shares: the configuration, the model, the loaded libraries and the build runner.

`library(server_id)` and `answering(server_id)` are the one place that decides which library a
server uses; what a library does is `library.Library`'s. It knows nothing of Discord: a server
is just an optional id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .answer import AnswerPolicy
from .build import BuildOptions, BuildProgress, BuildReport, IndexBuilder, SourceFile
from .embed import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder, canonical_model_id
from .errors import BuildCancelled, BuildTimedOut, CitebotError
from .fetch import FetchPolicy, fetch, is_url
from .file_store import FileLibraryStore
from .library import Library
from .library_store import DEFAULT_KEY, LibraryStore, library_key, server_of
from .loaded import LoadedLibraries
from .query_encoder import QueryEncoder
from .store import StoredIndex, WriteStep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs from the settings."""

    index_dir: Path
    corpus_paths: tuple[Path, ...]
    model: str = DEFAULT_MODEL
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    approximate_from: int = 50_000
    max_document_bytes: int = 2_000_000
    batch_size: int = 64
    # "auto": answer with the ONNX export when one exists (made at index time), else the model.
    query_encoder: str = "auto"
    max_documents_per_library: int = 25
    max_library_bytes: int = 10_000_000
    max_loaded_libraries: int = 100
    allow_private_urls: bool = False
    build_timeout_seconds: float = 600.0
    answer_threads: int = 0  # threads embedding one question uses (0: one per core)

    @property
    def model_id(self) -> str:
        return canonical_model_id(self.model)

    @property
    def build_options(self) -> BuildOptions:
        return BuildOptions(self.model_id, self.max_document_bytes, self.batch_size, self.approximate_from)


class BuildRunner(Protocol):
    """Runs one build elsewhere (a child process: index/build_process.py) and returns what it published."""

    def __call__(
        self,
        store: LibraryStore,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        *,
        timeout: float,
    ) -> BuildReport: ...

    def close(self) -> None: ...


class Engine:
    """Shared by every library; safe to call from worker threads.

    Builds run in this process with `embedder`, or through `build_runner` (the bot runs them in a
    child process, so the model that builds need is never loaded where questions are answered).
    """

    def __init__(
        self,
        config: EngineConfig,
        embedder: Embedder | None = None,
        *,
        build_runner: BuildRunner | None = None,
        store: LibraryStore | None = None,
    ) -> None:
        self.config = config
        self.store: LibraryStore = store or FileLibraryStore(config.index_dir)
        self.build_runner = build_runner
        self._stopping = threading.Event()
        self._stop_watching: Callable[[], None] | None = None
        self._absent: set[str] = set()  # keys known to have no library, while watching
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(config.model)
        self.libraries = LoadedLibraries(config.max_loaded_libraries)
        self.queries = QueryEncoder(
            self.embedder,
            config.model_id,
            config.index_dir,
            choice=config.query_encoder,
            has_index=self._has_any,
            threads=config.answer_threads,
            export_elsewhere=self._export_in_build_process,
        )
        self.build_options = config.build_options
        self.builder = IndexBuilder(self.embedder, self.build_options, before_write=self.queries.export)

    # ---- which library -----------------------------------------------------------------------
    def library(self, server_id: int | None) -> Library:
        """A server's own library (made on its first change); None is the default library."""
        return Library(library_key(server_id), self)

    def answering(self, server_id: int | None) -> Library:
        """The library that answers for a server: its own if it has one, else the default."""
        own = self.library(server_id)
        return own if self._has_own(own) else self.default

    def _has_own(self, library: Library) -> bool:
        """Whether the library exists. While the store is watched (a fleet), a server known to have
        none is not looked up again until a change of its library is announced, or the next
        re-check: most servers have none, and each look would be a database query."""
        if self.libraries.get(library.key) is not None:
            return True
        watched = self._stop_watching is not None
        if watched and library.key in self._absent:
            return False
        exists = library.exists
        if watched and not exists:
            self._absent.add(library.key)
        return exists

    @property
    def default(self) -> Library:
        return Library(DEFAULT_KEY, self)

    def watch_libraries(self) -> None:
        """Follow other processes' changes to the libraries held here (a shared store)."""
        if self._stop_watching is None:
            self._stop_watching = self.store.watch(self._library_changed)

    def _library_changed(self, key: str | None) -> None:
        if key is None:
            self._absent.clear()
        else:
            self._absent.discard(key)
        keys = self.libraries.loaded_keys() if key is None else [key]
        for changed, version in self.store.versions(keys).items():
            try:
                Library(changed, self).refresh(version)
            except CitebotError:
                log.warning("Could not reload library %s after another process changed it.", changed, exc_info=True)

    def _export_in_build_process(self) -> bool:
        """Make the ONNX export where builds run (a child process), not here; False if they run here."""
        export = getattr(self.build_runner, "export_model", None)
        if export is None:
            return False
        try:
            export()
        except CitebotError:
            log.warning("The build process could not export the model; exporting here.", exc_info=True)
            return False
        return True

    def server_libraries(self) -> list[int]:
        """The ids of servers that have a library."""
        return [server for key in self.store.library_keys() if (server := server_of(key)) is not None]

    def _has_any(self) -> bool:
        return bool(self.store.library_keys())

    # ---- what libraries share -----------------------------------------------------------------
    @property
    def query_embedder(self) -> Embedder:
        """What embeds questions: the ONNX export if there is one, else the build model."""
        return self.queries.embedder

    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(max_bytes=self.config.max_document_bytes, allow_private=self.config.allow_private_urls)

    def read_source(self, source: str) -> tuple[str, bytes, str | None]:
        """A file path or an http(s) URL as (file name, bytes, the URL or None), under the size cap
        and, for a URL, the safety rules of index/fetch.py."""
        if is_url(source):
            fetched = fetch(source, self.fetch_policy())
            return fetched.name, fetched.data, source
        path = Path(source)
        return path.name, self.builder.read_capped(path), None

    def run_build(
        self,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        on_step: WriteStep | None = None,
        previous: StoredIndex | None = None,
    ) -> BuildReport:
        """Build and publish a library's new version, here or with the build runner, within the time
        budget. The caller holds the library's lock."""
        budget = self.config.build_timeout_seconds
        if self._stopping.is_set():
            raise BuildCancelled("citebot is stopping; the build was not started.")
        if self.build_runner is None or on_step is not None:
            guarded = _within_budget(progress, budget, self._stopping)
            return self.builder.build(self.store, key, sources, progress=guarded, on_step=on_step, previous=previous)
        report = self.build_runner(self.store, key, sources, progress, timeout=budget)
        self.queries.look_again()  # a first build may have made the ONNX export: use it from now on
        return report

    def stop_builds(self) -> None:
        """Stop running builds and refuse new ones (shutting down); the libraries stay as they were."""
        self._stopping.set()
        if self.build_runner is not None:
            self.build_runner.close()

    def close(self) -> None:
        """Stop watching and what runs builds elsewhere (a build in progress there changes nothing),
        then let go of the store."""
        if self._stop_watching is not None:
            self._stop_watching()
        self.stop_builds()
        self.store.close()


def _within_budget(progress: BuildProgress | None, budget: float, stopping: threading.Event) -> BuildProgress:
    """Progress that stops a build in this process past its time budget, or when citebot stops."""
    deadline = time.monotonic() + budget

    def guarded(stage: str, done: int, total: int) -> None:
        if time.monotonic() > deadline:
            raise BuildTimedOut.after(budget)
        if stopping.is_set():
            raise BuildCancelled("citebot is stopping; the build was stopped and nothing was changed.")
        if progress is not None:
            progress(stage, done, total)

    return guarded

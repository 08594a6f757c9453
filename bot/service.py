"""The bridge between the event loop and the engine: every engine call runs in a worker thread.

Answers run on one thread (one query encoder, one search at a time, in arrival order); builds on
their own threads, at most `max_concurrent_builds` at once and one per library, so a build never
delays an answer anywhere and two changes to one library never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from citebot.index.answer import Answer, Exchange
from citebot.index.build import BuildProgress, BuildReport
from citebot.index.documents import QuotedParagraph
from citebot.index.engine import Engine
from citebot.index.errors import CitebotError
from citebot.index.library import Library, NewDocument
from citebot.index.library_info import DocumentInfo, LibraryInfo

from . import messages
from .conversation_store import outcome_of
from .errors import BuildBusy, ShuttingDown
from .metrics import Metrics

P = ParamSpec("P")
T = TypeVar("T")


def release_free_memory() -> None:
    """Hand heap that a build freed back to the system (glibc keeps it in the thread's arena)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to trim
        return
    libc.malloc_trim(0)


class AnswerService:
    """Runs the engine off the event loop and keeps builds orderly."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_concurrent: int = 4,
        max_concurrent_builds: int = 1,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics or Metrics()
        self._answer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-answer")
        self._build_pool = ThreadPoolExecutor(
            max_workers=max(1, max_concurrent_builds), thread_name_prefix="citebot-build"
        )
        self._slots = asyncio.Semaphore(max_concurrent)
        self._build_slots = asyncio.Semaphore(max(1, max_concurrent_builds))
        self._building: set[str] = set()  # library keys with a build running or queued
        self._waiting: list[tuple[str, BuildProgress]] = []  # builds waiting for a slot, in order
        self._accepting = True
        self._in_flight = 0
        self._all_done = asyncio.Event()
        self._all_done.set()
        self.metrics.build_queue.set_function(lambda: len(self._waiting))
        self.metrics.loaded_libraries.set_function(lambda: len(self.engine.libraries))

    @contextlib.asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Count a member's request (question or change) from acceptance to its reply being sent."""
        if not self._accepting:
            raise ShuttingDown(messages.RESTARTING)
        self._in_flight += 1
        self._all_done.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._all_done.set()

    @property
    def accepting(self) -> bool:
        return self._accepting

    async def stop(self, grace: float) -> bool:
        """Take no new work, stop builds (nothing changes), and wait up to `grace` seconds for the
        requests in flight to be answered; False if some were not."""
        self._accepting = False
        self.engine.stop_builds()
        try:
            await asyncio.wait_for(self._all_done.wait(), grace)
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Load the index and the model before the bot goes online, so failures show at start."""
        await self._in(self._answer_pool, self._warm_up)

    def _warm_up(self) -> None:
        self.engine.default.loaded()
        self.engine.watch_libraries()  # a shared store: other processes' changes reach this one
        self.engine.query_embedder.encode(["warm up"])
        if self.engine.build_runner is None:
            # Builds run here: load their model now, so one that cannot load is reported at start,
            # and importing torch later does not stall the event loop (imports hold the GIL).
            self.engine.embedder.encode(["warm up"])
        # Everything loaded so far lives as long as the bot; frozen, full collections skip it.
        gc.freeze()
        release_free_memory()

    async def answering(self, server_id: int | None) -> Library:
        """The library that answers in a server (its own, else the default); looked up off the loop."""
        return await asyncio.to_thread(self.engine.answering, server_id)

    def library(self, server_id: int | None) -> Library:
        """A server's own library, the one its admins change (made on its first change)."""
        return self.engine.library(server_id)

    async def answer(
        self,
        library: Library,
        question: str,
        *,
        document: str | None = None,
        context: Exchange | None = None,
        server: int | None = None,
    ) -> Answer:
        """An answer, read with the exchange it follows up on when there is one. `server`, where it
        was asked (None: a DM), is for the question's log line."""
        work = functools.partial(library.answer, question, document=document, context=context)
        return await self._asked(library, work, server)

    async def summarise(self, library: Library, *, document: str | None = None, server: int | None = None) -> Answer:
        return await self._asked(library, functools.partial(library.summarise, document=document), server)

    async def _asked(self, library: Library, work: Callable[[], Answer], server: int | None) -> Answer:
        """Answer in the answer thread; count the question by how it ended and log it (its library,
        that library's version, the latency)."""
        started = time.perf_counter()
        outcome = "failed"
        try:
            async with self._slots:
                answer = await self._in(self._answer_pool, work)
            outcome = outcome_of(answer)
            return answer
        finally:
            live = self.engine.libraries.get(library.key)
            self.metrics.asked(
                outcome,
                time.perf_counter() - started,
                server=server,
                library=library.key,
                version=live.version if live is not None else None,
            )

    async def paragraph(self, library: Library, document: str, paragraph_index: int) -> QuotedParagraph | None:
        return await self._in(self._answer_pool, library.paragraph, document, paragraph_index)

    async def describe(self, library: Library) -> LibraryInfo:
        """What a library holds; at once when it is in memory."""
        loaded = library.described_if_loaded()
        if loaded is not None:
            return loaded
        return await self._in(self._answer_pool, library.describe)

    async def own_documents(self, server_id: int | None) -> tuple[DocumentInfo, ...]:
        """The documents of the server's own library (none when it answers from the default one)."""
        if server_id is None:
            return ()
        library = await self.answering(server_id)
        return () if library.is_default else (await self.describe(library)).documents

    def is_building(self, library: Library) -> bool:
        return library.key in self._building

    async def rebuild(self, library: Library, *, progress: BuildProgress) -> BuildReport:
        """Build a library again from what it keeps (web pages fetched again)."""
        return await self._build(library, progress, lambda report: library.rebuild(progress=report))

    async def replace(
        self, library: Library, documents: list[NewDocument], *, added_by: str | None, progress: BuildProgress
    ) -> BuildReport:
        """Replace what a library holds by these documents."""
        return await self._build(
            library, progress, lambda report: library.replace(documents, added_by=added_by, progress=report)
        )

    async def add(
        self, library: Library, documents: list[NewDocument], *, added_by: str | None, progress: BuildProgress
    ) -> BuildReport:
        """Add documents (a file; a message and its attachments) in one build."""
        return await self._build(
            library, progress, lambda report: library.add(documents, added_by=added_by, progress=report)
        )

    async def add_url(
        self, library: Library, url: str, *, added_by: str | None, progress: BuildProgress
    ) -> BuildReport:
        """Fetch an article and add it; the fetch runs on the build thread, within the build's turn."""
        return await self._build(
            library, progress, lambda report: library.add_url(url, added_by=added_by, progress=report)
        )

    async def remove(self, library: Library, document: str, *, progress: BuildProgress) -> BuildReport | None:
        return await self._build(library, progress, lambda report: library.remove(document, progress=report))

    async def forget_server(self, server_id: int) -> bool:
        """Delete a server's library (after the bot left it)."""
        library = self.library(server_id)
        async with self._exclusive(library, lambda *_: None):
            return await self._in(self._build_pool, library.delete)

    async def _build(self, library: Library, progress: BuildProgress, work: Callable[[BuildProgress], T]) -> T:
        loop = asyncio.get_running_loop()

        def from_thread(stage: str, done: int, total: int) -> None:
            loop.call_soon_threadsafe(progress, stage, done, total)

        async with self._exclusive(library, progress):
            started, outcome = time.perf_counter(), "failed"
            try:
                result = await self._in(self._build_pool, work, from_thread)
                outcome = "published"
                return result
            except CitebotError:
                outcome = "refused"
                raise
            finally:
                self.metrics.builds.labels(outcome).inc()
                self.metrics.build_seconds.observe(time.perf_counter() - started)
                release_free_memory()

    @contextlib.asynccontextmanager
    async def _exclusive(self, library: Library, progress: BuildProgress) -> AsyncIterator[None]:
        """One build per library; past `max_concurrent_builds`, wait in line with the position shown."""
        key = library.key
        if key in self._building:
            raise BuildBusy(messages.BUILD_BUSY)
        self._building.add(key)
        waiter = (key, progress)
        self._waiting.append(waiter)
        try:
            if self._build_slots.locked():
                progress("queued", len(self._waiting), 0)
            async with self._build_slots:
                self._leave_queue(waiter)
                yield
        finally:
            self._leave_queue(waiter)
            self._building.discard(key)

    def _leave_queue(self, waiter: tuple[str, BuildProgress]) -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)
            for position, (_, tell) in enumerate(self._waiting, start=1):
                tell("queued", position, 0)

    async def _in(self, pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.engine.close()  # ends build processes; a build in one changes nothing
        self._answer_pool.shutdown(wait=False, cancel_futures=True)
        self._build_pool.shutdown(wait=False, cancel_futures=True)

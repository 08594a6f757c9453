"""The bridge between the event loop and the engine: every engine call runs in a worker thread."""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from index.answer import Answer
from index.engine import BuildReport, Engine
from index.errors import CitebotError

Progress = Callable[[str, int, int], None]


class ReindexBusy(CitebotError):
    """A reindex is already running in this bot."""


class AnswerService:
    """Answers on one worker thread (one model, one encoder at a time); builds on another.

    A build runs beside answering: questions keep being answered from the old index until the
    engine swaps in the new one.
    """

    def __init__(self, engine: Engine, *, max_concurrent: int = 4) -> None:
        self.engine = engine
        self._answer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-answer")
        self._build_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-build")
        self._slots = asyncio.Semaphore(max_concurrent)
        self._reindex_lock = asyncio.Lock()
        self.reindex_started_by: str | None = None

    async def start(self) -> None:
        """Load the index and the model before the bot goes online, so failures show at start."""
        await self._in(self._answer_pool, self._warm_up)

    def _warm_up(self) -> None:
        self.engine.ensure_ready()
        self.engine.query_embedder.encode(["warm up"])
        # The build model too: a model that cannot load is reported at start, not at the first
        # /reindex, and importing torch later would stall the event loop (imports hold the GIL).
        self.engine.embedder.encode(["warm up"])
        # Everything loaded so far lives as long as the bot; frozen, full collections skip it.
        gc.freeze()

    async def answer(self, question: str) -> Answer:
        async with self._slots:
            return await self._in(self._answer_pool, self.engine.answer, question)

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    async def reindex(self, *, started_by: str, upload: tuple[str, bytes] | None, progress: Progress) -> BuildReport:
        """Rebuild from an upload (or the configured corpus); progress is called on the event loop."""
        if self._reindex_lock.locked():
            raise ReindexBusy(f"A reindex started by {self.reindex_started_by} is still running; try again when it finishes.")
        loop = asyncio.get_running_loop()

        def from_thread(stage: str, done: int, total: int) -> None:
            loop.call_soon_threadsafe(progress, stage, done, total)

        async with self._reindex_lock:
            self.reindex_started_by = started_by
            try:
                if upload is not None:
                    name, data = upload
                    return await self._in(self._build_pool, self.engine.build_from_upload, name, data, from_thread)
                return await self._in(self._build_pool, self.engine.build_from_paths, None, from_thread)
            finally:
                self.reindex_started_by = None

    async def _in(self, pool: ThreadPoolExecutor, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))

    def close(self) -> None:
        self._answer_pool.shutdown(wait=False, cancel_futures=True)
        self._build_pool.shutdown(wait=False, cancel_futures=True)

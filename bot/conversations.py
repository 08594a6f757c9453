"""The conversation store on its own thread, so the event loop never waits on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from citebot.index.answer import Exchange

from .conversation_store import Asked, ConversationStore, ServerConfig

T = TypeVar("T")


class ConversationService:
    """The store on its own thread: every read and write is queued there, off the event loop."""

    def __init__(self, open_store: Callable[[], ConversationStore], keep_days: float) -> None:
        self.keep_days = keep_days
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-conversations")
        self._open_store = open_store  # called on the store's thread, at the first use
        self._store: ConversationStore | None = None
        self._closed = False
        # Read on every message in a server that mentions no one: kept here, changed only by /config.
        self._configs: dict[int, ServerConfig] = {}

    async def _run(self, work: Callable[[ConversationStore], T]) -> T:
        def call() -> T:
            if self._store is None:
                self._store = self._open_store()
            return work(self._store)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def record(self, **kwargs: Any) -> None:
        await self._run(lambda store: store.record(**kwargs))

    async def exchange(self, message_id: int) -> Exchange | None:
        return await self._run(lambda store: store.exchange(message_id))

    async def in_thread(self, thread_id: int) -> Exchange | None:
        return await self._run(lambda store: store.in_thread(thread_id))

    async def vote(self, **kwargs: Any) -> bool:
        return await self._run(lambda store: store.vote(**kwargs))

    async def asked_since(self, server_id: int, since: float) -> list[Asked]:
        return await self._run(lambda store: store.asked_since(server_id, since))

    async def forget_server(self, server_id: int, *, settings_too: bool = False) -> int:
        deleted = await self._run(lambda store: store.forget_server(server_id, settings_too=settings_too))
        if settings_too:
            self._configs.pop(server_id, None)
        return deleted

    async def purge(self) -> int:
        return await self._run(lambda store: store.purge_older_than(self.keep_days))

    async def config(self, server_id: int) -> ServerConfig:
        if server_id not in self._configs:
            self._configs[server_id] = await self._run(lambda store: store.config(server_id))
        return self._configs[server_id]

    # The cached copy is dropped once the write is done, so a read queued before it cannot stay cached.
    async def set_ask_channel(self, server_id: int, channel_id: int | None) -> None:
        await self._run(lambda store: store.set_ask_channel(server_id, channel_id))
        self._configs.pop(server_id, None)

    async def set_forum(self, server_id: int, forum_id: int, enabled: bool) -> None:
        await self._run(lambda store: store.set_forum(server_id, forum_id, enabled))
        self._configs.pop(server_id, None)

    def close(self) -> None:
        """Close the file after the queued work (once; the bot may be closed twice)."""
        if self._closed:
            return
        self._closed = True

        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._pool.submit(close_store)
        self._pool.shutdown(wait=True)

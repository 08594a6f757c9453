"""Replies that survive a short Discord outage: retried with back-off on 5xx, timeouts and resets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import discord

log = logging.getLogger(__name__)

T = TypeVar("T")

# discord.py itself retries a 5xx for about 16 s; past that, this keeps trying for up to a minute
# (an interaction token allows follow-ups for 15 minutes).
RETRY_FOR_SECONDS = 60.0
_TRANSIENT = (discord.DiscordServerError, aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


async def deliver(send: Callable[[], Awaitable[T]], *, what: str, within: float = RETRY_FOR_SECONDS) -> T:
    """Run `send` until it succeeds, retrying transient failures with back-off for up to `within` s."""
    deadline = time.monotonic() + within
    delay = 1.0
    while True:
        try:
            return await send()
        except _TRANSIENT as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Could not deliver %s (%s); trying again in %.0f s.", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

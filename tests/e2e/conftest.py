"""Fixtures that run the real discord.py client against the loopback Discord server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from citebot.bot.client import CitebotBot
from citebot.bot.settings import Settings
from citebot.index.engine import Engine, EngineConfig

from ..conftest import ARTICLE
from .fake_discord import TOKEN, FakeDiscord


@pytest.fixture
async def server() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(server: FakeDiscord, tmp_path: Path) -> Settings:
    return Settings(
        discord_token=TOKEN,
        discord_api_base=server.api_base,
        discord_gateway_url=server.gateway_url,
        index_dir=tmp_path / "index",
        corpus_paths=(ARTICLE,),
        ask_cooldown_seconds=0.0,
        # The ONNX export (tests/index/test_onnx.py) would add seconds to every bot's first build.
        query_encoder="sentence-transformers",
        # Builds run in this process with the model loaded once per test run; the child-process
        # builds have their own tests (test_build_process.py).
        build_in_child_process=False,
    )


@pytest.fixture
def make_engine(real_embedder):
    def make(settings: Settings) -> Engine:
        config: EngineConfig = settings.engine_config()
        return Engine(config, embedder=real_embedder)

    return make


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, engine: Engine, **options: Any) -> AsyncIterator[CitebotBot]:
    """Start the bot, wait until READY, and close it cleanly afterwards."""
    bot = CitebotBot(settings, engine, guild_ready_timeout=0.05, **options)
    task = asyncio.create_task(bot.start(settings.discord_token), name="bot")
    try:
        for _ in range(1000):
            if bot.is_ready() or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        assert bot.is_ready(), "bot did not become ready"
        yield bot
    finally:
        await bot.close()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def bot(settings: Settings, make_engine) -> AsyncIterator[CitebotBot]:
    async with running_bot(settings, make_engine(settings)) as running:
        yield running


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)

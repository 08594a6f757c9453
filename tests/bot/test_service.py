"""Builds off the event loop: one per library, others queued with their position, answers unaffected."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citebot.bot.errors import BuildBusy
from citebot.bot.service import AnswerService
from citebot.index.engine import Engine
from citebot.index.library import NewDocument

from ..conftest import engine_config
from ..fakes import HashingEmbedder

DOC = b"Harbour Vote\n\nThe council of Harbour Town voted to lease its disused docks.\n"
OTHER = b"Bakery Opens\n\nA new bakery on Main Street sells rye bread every morning.\n"


class GatedEmbedder(HashingEmbedder):
    """Holds every build's embedding until the test opens the gate; questions pass freely."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        if progress is not None:  # only builds report progress
            self.waiting.set()
            self.gate.wait(10)
        return super().encode(texts, batch_size=batch_size, progress=progress)


async def test_builds_queue_with_their_position_and_one_library_builds_once(tmp_path: Path) -> None:
    embedder = GatedEmbedder()
    service = AnswerService(Engine(engine_config(tmp_path / "index"), embedder=embedder), max_concurrent_builds=1)
    seen: dict[int, list[tuple[str, int, int]]] = {1: [], 2: []}
    embedder.gate.set()
    service.engine.default.loaded()  # the default library, built before the gate closes
    embedder.gate.clear()
    embedder.waiting.clear()
    try:
        first = asyncio.create_task(
            service.add(
                service.library(1), [NewDocument("a.txt", DOC)], added_by="x", progress=lambda *p: seen[1].append(p)
            )
        )
        await asyncio.get_running_loop().run_in_executor(None, embedder.waiting.wait, 10)
        second = asyncio.create_task(
            service.add(
                service.library(2), [NewDocument("b.txt", OTHER)], added_by="y", progress=lambda *p: seen[2].append(p)
            )
        )
        await asyncio.sleep(0.05)
        assert ("queued", 1, 0) in seen[2] and not any(stage == "parsing" for stage, *_ in seen[2])
        with pytest.raises(BuildBusy):
            await service.add(service.library(1), [NewDocument("c.txt", OTHER)], added_by="x", progress=lambda *p: None)
        answer = await asyncio.wait_for(service.answer(await service.answering(3), "why did relations rupture?"), 5)
        assert "ruptured" in answer.answer  # questions are answered while builds wait
        embedder.gate.set()
        assert (await first).titles == ("Harbour Vote",) and (await second).titles == ("Bakery Opens",)
        assert any(stage == "parsing" for stage, *_ in seen[2])
    finally:
        embedder.gate.set()
        service.close()

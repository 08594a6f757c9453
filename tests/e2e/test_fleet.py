"""The fleet for real: two `citebot run` processes (SHARD_COUNT=2, one shard each) and one
`citebot worker`, against the loopback Discord and one PostgreSQL database (a fresh schema).

A fresh fleet answers from the default library at once; a document added in a guild of shard 1 is
answered there and nowhere else; a version published from the terminal is answered from within a
second; a process whose listening connection is killed does not go on answering from an old
version; `kill -9` of the worker mid-build publishes nothing and the admin is told; every question
is answered exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psycopg
import pytest

from .fake_discord import CHANNEL_SHARD_1, GUILD_ID, GUILD_SHARD_1, MANAGE_GUILD, TOKEN, FakeDiscord
from .helpers import RUPTURE, descriptions, replies_to
from .test_library import HARBOUR, result_of

LIGHTHOUSE = (
    b"Lighthouse Keepers Return to Cape Wren\n\nBy Ines Rook\n\n"
    b"The lighthouse on Cape Wren will be staffed again from May, after forty years of automatic operation.\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Fleet:
    """The processes of one fleet, each started as an operator would."""

    def __init__(self, server: FakeDiscord, dsn: str, root: Path) -> None:
        self.server = server
        self.root = root
        self.env = {
            **os.environ,
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": server.api_base,
            "DISCORD_GATEWAY_URL": server.gateway_url,
            "DATABASE_URL": dsn,
            "ASK_COOLDOWN_SECONDS": "0",
            "QUERY_ENCODER": "sentence-transformers",  # no ONNX export: faster starts
            "LOG_LEVEL": "INFO",
        }
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.metrics_port = free_port()
        self.worker_metrics_port = free_port()
        self.asked: list[str] = []

    async def start(self, name: str, *args: str, **settings: str) -> asyncio.subprocess.Process:
        (self.root / name).mkdir(exist_ok=True)
        with open(self.root / f"{name}.log", "ab") as log:  # the process keeps its own copy of the file
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "citebot.bot",
                *args,
                cwd=self.root / name,
                env={**self.env, "INDEX_DIR": str(self.root / name / "index"), **settings},
                stdout=log,
                stderr=log,
            )
        self.processes[name] = process
        return process

    async def terminal(self, *args: str) -> str:
        """A `citebot` command from a machine of its own (an empty INDEX_DIR); returns its output."""
        folder = self.root / f"terminal-{len(os.listdir(self.root))}"
        folder.mkdir()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "citebot.bot",
            *args,
            cwd=folder,
            env={**self.env, "INDEX_DIR": str(folder / "index")},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
        assert process.returncode == 0, output.decode()
        return output.decode()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.root.glob("*.log"))

    async def mention(self, question: str, guild: int | None) -> str:
        channel = CHANNEL_SHARD_1 if guild == GUILD_SHARD_1 else None
        message_id = await self.server.mention(f"<@4242> {question}", guild_id=guild, channel_id=channel)
        self.asked.append(message_id)
        (reply,) = await self.server.wait_for(lambda: replies_to(self.server, message_id), timeout=90)
        return descriptions(reply)

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def fleet(server: FakeDiscord, postgres_dsn: str, tmp_path: Path) -> AsyncIterator[Fleet]:
    server.guilds.append(GUILD_SHARD_1)
    running = Fleet(server, postgres_dsn, tmp_path)
    await running.start("bot-0", "run", SHARD_COUNT="2", SHARD_IDS="0")
    await running.start("bot-1", "run", SHARD_COUNT="2", SHARD_IDS="1", METRICS_PORT=str(running.metrics_port))
    await running.start("worker", "worker", METRICS_PORT=str(running.worker_metrics_port))
    try:
        await server.wait_for(lambda: len(server.identified_shards) >= 2, timeout=120)
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        await running.stop()


async def worker_backend(dsn: str, state: str) -> int | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT worker_pid FROM build_jobs WHERE status = 'running' AND stage = %s", (state,))
        found = row.fetchone()
    return None if found is None else int(found[0])


async def test_a_fleet_of_two_shards_and_a_worker(fleet: Fleet, server: FakeDiscord, postgres_dsn: str) -> None:
    # Each process connects exactly the shard it owns, identifying as [shard_id, 2].
    assert sorted(server.identified_shards) == [(0, 2), (1, 2)]
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(f"http://127.0.0.1:{fleet.metrics_port}/healthz") as health:
                if health.status == 200:
                    break
            await asyncio.sleep(0.1)
        assert health.status == 200

    # A fresh fleet answers servers without documents, and DMs, from the default library.
    assert RUPTURE in await fleet.mention("why did relations rupture?", GUILD_ID)
    assert RUPTURE in await fleet.mention("why did relations rupture?", GUILD_SHARD_1)
    assert RUPTURE in await fleet.mention("why did relations rupture?", None)

    # A document added in a guild of shard 1 is built by the worker and answered there only.
    options, resolved = server.attachment("harbour.txt", HARBOUR)
    token = await server.slash("docs add", options, resolved=resolved, permissions=MANAGE_GUILD, guild_id=GUILD_SHARD_1)
    assert "Added “Harbour Town Votes" in await result_of(server, token, "Added", "Not added")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT status, worker FROM build_jobs").fetchall()[0][0] == "done"
    assert "disused docks" in await fleet.mention("what did the council vote to lease?", GUILD_SHARD_1)
    assert "disused docks" not in await fleet.mention("what did the council vote to lease?", GUILD_ID)
    async with aiohttp.ClientSession() as http:  # the worker reports its health and its builds
        async with http.get(f"http://127.0.0.1:{fleet.worker_metrics_port}/healthz") as health:
            assert health.status == 200
        async with http.get(f"http://127.0.0.1:{fleet.worker_metrics_port}/metrics") as scraped:
            metrics = await scraped.text()
    assert 'citebot_builds_total{outcome="published"} 1.0' in metrics
    assert "citebot_build_queue_depth 0.0" in metrics

    # A version published from the terminal (another machine, an empty INDEX_DIR) is answered from
    # by its owner within a second.
    path = fleet.root / "lighthouse.txt"
    path.write_bytes(LIGHTHOUSE)
    await fleet.terminal("docs", "add", "--server", str(GUILD_SHARD_1), str(path))
    await asyncio.sleep(1.0)
    assert "Cape Wren" in await fleet.mention("when will the lighthouse be staffed again?", GUILD_SHARD_1)

    # Its listening connection killed, shard 1's process still sees the next version.
    bot_1 = fleet.processes["bot-1"].pid
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"citebot watch {bot_1}",),
        ).fetchall()
    assert killed == [(True,)]
    listing = await fleet.terminal("docs", "list", "--server", str(GUILD_SHARD_1), "--json")
    documents = json.loads(next(line for line in listing.splitlines() if line.startswith("[")))
    key = next(d["key"] for d in documents if "Lighthouse" in d["title"])
    await fleet.terminal("docs", "remove", "--server", str(GUILD_SHARD_1), key)
    await asyncio.sleep(1.0)
    assert "Cape Wren" not in await fleet.mention("when will the lighthouse be staffed again?", GUILD_SHARD_1)

    # kill -9 of the worker mid-build: nothing is published and the admin is told.
    big = "\n\n".join(
        f"Paragraph {n} of the survey notes that the tide at station {n} rose {n * 7 % 97} centimetres."
        for n in range(2500)
    ).encode()
    options, resolved = server.attachment("survey.txt", b"Coastal Survey\n\n" + big)
    token = await server.slash("docs add", options, resolved=resolved, permissions=MANAGE_GUILD, guild_id=GUILD_SHARD_1)
    for _ in range(600):
        if await worker_backend(postgres_dsn, "embedding") is not None:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the worker never started embedding the survey")
    fleet.processes["worker"].kill()
    result = await result_of(server, token, "Added", "Not added")
    assert "Not added" in result and "stopped mid-build" in result, result
    assert "Coastal Survey" not in await fleet.terminal("docs", "list", "--server", str(GUILD_SHARD_1))
    assert "disused docks" in await fleet.mention("what did the council vote to lease?", GUILD_SHARD_1)

    # Every question was answered exactly once, by the process of its shard.
    await asyncio.sleep(1.0)
    assert all(len(replies_to(server, message_id)) == 1 for message_id in fleet.asked)

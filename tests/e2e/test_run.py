"""`citebot run` as a user starts it: token from the environment, clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest

from citebot.bot.cli import main

from .fake_discord import MANAGE_GUILD, TOKEN, FakeDiscord
from .helpers import replies_to


async def start_citebot(
    server: FakeDiscord, tmp_path: Path, *, stdout: int = asyncio.subprocess.PIPE, **settings: str
) -> asyncio.subprocess.Process:
    """`citebot run` in its own process, against the loopback Discord, in a fresh index folder."""
    env = {
        **os.environ,
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": server.api_base,
        "DISCORD_GATEWAY_URL": server.gateway_url,
        "INDEX_DIR": str(tmp_path / "index"),
        "ASK_COOLDOWN_SECONDS": "0",
        **settings,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "citebot.bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_citebot_run_serves_and_stops_cleanly_on_sigterm(server: FakeDiscord, tmp_path: Path) -> None:
    # No ONNX export: a faster start.
    process = await start_citebot(server, tmp_path, LOG_LEVEL="DEBUG", QUERY_ENCODER="sentence-transformers")
    try:
        await server.wait_for(lambda: server.identifies == 1, timeout=120)
        message_id = await server.mention("<@4242> why did relations rupture?")
        (reply,) = await server.wait_for(lambda: replies_to(server, message_id), timeout=30)
        assert "ruptured in 2018" in reply["embeds"][0]["description"]
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = (stdout + stderr).decode()
    assert process.returncode == 0, log
    assert "Synced 9 slash commands" in log and "citebot stopped." in log
    assert TOKEN not in log


def test_citebot_run_without_a_token_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["run"], out=io.StringIO()) == 2
    assert "DISCORD_TOKEN is not set" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"resource_tracker" not in cmdline:
                found.append(int(entry.name))
    return found


async def test_builds_run_in_a_child_and_the_bot_never_loads_torch(server: FakeDiscord, tmp_path: Path) -> None:
    process = await start_citebot(server, tmp_path, stdout=asyncio.subprocess.DEVNULL)  # the defaults
    try:
        # First start: the default library and the ONNX export are made in a child.
        await server.wait_for(lambda: server.identifies == 1, timeout=180)
        assert (tmp_path / "index" / "encoders").is_dir()
        lines = "\n\n".join(f"Shipment {i} of blades reached quay {i % 9} on day {i}." for i in range(4000))
        options, resolved = server.attachment("big.txt", f"Shipments Log\n\n{lines}\n".encode())
        token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
        await server.wait_for(lambda: "Embedding" in ((server.original(token) or {}).get("content") or ""), timeout=60)
        message_id = await server.mention("<@4242> why did relations rupture?")
        (reply,) = await server.wait_for(lambda: replies_to(server, message_id), timeout=30)
        assert "ruptured in 2018" in reply["embeds"][0]["description"]  # answered while the child builds
        (child,) = _children(process.pid)
        os.kill(child, signal.SIGKILL)
        result = await server.wait_for(
            lambda: "Not reindexed" in ((server.original(token) or {}).get("content") or "") and server.original(token),
            timeout=30,
        )
        assert "stopped unexpectedly" in result["content"] and "keeps serving" in result["content"]
        message_id = await server.mention("<@4242> why did relations rupture?")
        (reply,) = await server.wait_for(lambda: replies_to(server, message_id), timeout=30)
        assert "ruptured in 2018" in reply["embeds"][0]["description"]
        options, resolved = server.attachment("harbour.txt", b"Harbour Vote\n\nThe council leased its docks.\n")
        token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
        await server.wait_for(lambda: "Reindexed" in ((server.original(token) or {}).get("content") or ""), timeout=60)
        assert "libtorch" not in Path(f"/proc/{process.pid}/maps").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]

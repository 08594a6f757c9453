"""The running bot's memory: idle, during a /reindex and after it, for its whole process tree.

.venv/bin/python bench/memory.py [--megabytes 1]

Starts `citebot run` against the loopback Discord of the tests (a fresh INDEX_DIR, the default
QUERY_ENCODER and child-process builds, as a server owner runs it), waits until it answers, then
/reindexes one document of the given size and waits for the build process to exit. Memory is the
RSS and PSS of the bot and all its children, read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import common
from common import report
from corpus import sentence

from tests.e2e.fake_discord import MANAGE_GUILD, TOKEN, FakeDiscord
from tests.e2e.helpers import replies_to


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def memory_mb(pid: int) -> tuple[float, float, int]:
    """(RSS, PSS) in MB of the process tree under `pid`, and how many processes it has."""
    rss = pss = 0
    pids = tree(pid)
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024, len(pids)


def maps_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def document(megabytes: float) -> bytes:
    rng = random.Random(3)
    paragraphs, size, n = [], 0, 0
    while size < megabytes * 1_000_000:
        paragraph = " ".join(sentence(rng, n + k) for k in range(4))
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
        n += 4
    return ("Harbour Shipping Report\n\nBy Bench Writer\n\n" + "\n\n".join(paragraphs) + "\n").encode()


async def measure(megabytes: float) -> dict[str, float | int | bool]:
    server = FakeDiscord()
    await server.start()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": server.api_base,
            "DISCORD_GATEWAY_URL": server.gateway_url,
            "INDEX_DIR": str(Path(tmp) / "index"),
            "ASK_COOLDOWN_SECONDS": "0",
            "MAX_UPLOAD_BYTES": str(int(megabytes * 1_000_000) + 100_000),
            "MAX_LIBRARY_BYTES": str(int(megabytes * 1_000_000) + 100_000),
        }
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "citebot.bot",
            "run",
            cwd=tmp,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await server.wait_for(lambda: server.identifies == 1, timeout=300)
            first_start = time.perf_counter() - started
            message_id = await server.mention("<@4242> why did relations rupture?")
            await server.wait_for(lambda: replies_to(server, message_id), timeout=60)
            for _ in range(100):  # the first start's build process lingers a few seconds, then exits
                if len(tree(process.pid)) == 1:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            idle_rss, idle_pss, idle_procs = memory_mb(process.pid)
            torch_in_bot = maps_torch(process.pid)
            options, resolved = server.attachment("report.txt", document(megabytes))
            token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
            peak_rss = peak_pss = 0.0
            build_started = time.perf_counter()
            while "Reindexed" not in ((server.original(token) or {}).get("content") or ""):
                rss, pss, _ = memory_mb(process.pid)
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                content = (server.original(token) or {}).get("content") or ""
                if "Not reindexed" in content or time.perf_counter() - build_started > 600:
                    raise RuntimeError(f"the reindex did not finish: {content!r}")
                await asyncio.sleep(0.2)
            build_seconds = time.perf_counter() - build_started
            for _ in range(150):
                if len(tree(process.pid)) == 1:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            after_rss, after_pss, after_procs = memory_mb(process.pid)
            message_id = await server.mention("<@4242> what does the harbour shipping report say?")
            await server.wait_for(lambda: replies_to(server, message_id), timeout=60)
            torch_after = maps_torch(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
            await server.stop()
    return {
        "first_start_s": round(first_start, 1),
        "idle_rss_mb": round(idle_rss, 1),
        "idle_pss_mb": round(idle_pss, 1),
        "idle_processes": idle_procs,
        "peak_rss_mb": round(peak_rss, 1),
        "peak_pss_mb": round(peak_pss, 1),
        "build_s": round(build_seconds, 1),
        "after_rss_mb": round(after_rss, 1),
        "after_pss_mb": round(after_pss, 1),
        "after_processes": after_procs,
        "torch_in_bot": torch_in_bot or torch_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=1.0)
    args = parser.parse_args()
    os.chdir(common.ROOT)
    figures = asyncio.run(measure(args.megabytes))
    report(
        "memory",
        [
            ("first start to online (s)", figures["first_start_s"], "builds the default library and the ONNX export"),
            ("idle RSS, process tree (MB)", figures["idle_rss_mb"], f"PSS {figures['idle_pss_mb']}; target <= 250"),
            ("idle processes", figures["idle_processes"], ""),
            (
                f"peak during a {args.megabytes:g} MB /reindex (MB)",
                figures["peak_rss_mb"],
                f"PSS {figures['peak_pss_mb']}; build {figures['build_s']} s",
            ),
            ("after the reindex, RSS (MB)", figures["after_rss_mb"], f"PSS {figures['after_pss_mb']}; target <= 300"),
            ("processes after", figures["after_processes"], ""),
            ("torch mapped in the bot process", figures["torch_in_bot"], "target: False"),
        ],
        {"megabytes": args.megabytes, **figures},
    )


if __name__ == "__main__":
    main()

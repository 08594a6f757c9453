"""The bot under load, through the loopback Discord server: 50 /ask at once and a stream of
mentions while a large /reindex runs. Reports time to acknowledge (Discord allows 3 s), time to
answer (p50, p99) and the event loop's worst stall.

The loopback server runs on its own thread and event loop, so the stall measured is the bot's.

    .venv/bin/python bench/bot_load.py [--asks 50] [--mentions 100] [--paragraphs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import common  # noqa: F401
from common import report, summary_ms
from corpus import article

from citebot.bot.client import CitebotBot
from citebot.bot.settings import PACKAGE_CORPUS, Settings
from citebot.index.engine import Engine
from tests.e2e.fake_discord import MANAGE_GUILD, TOKEN, FakeDiscord


class ServerThread:
    """The fake Discord on a loop of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = FakeDiscord()
        self.call(self.server.start())

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


async def watch_loop(stop: asyncio.Event, stalls: list[float], when: list[float], tick: float = 0.005) -> None:
    """Record how late each short sleep wakes up: the event loop's stalls (and when they ended)."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(tick)
        stalls.append(time.perf_counter() - t - tick)
        when.append(time.monotonic())


async def run(args: argparse.Namespace) -> None:
    host = ServerThread()
    server = host.server
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            discord_token=TOKEN,
            discord_api_base=server.api_base,
            discord_gateway_url=server.gateway_url,
            index_dir=Path(tmp) / "index",
            corpus_paths=(PACKAGE_CORPUS,),
            ask_cooldown_seconds=5.0,
        )
        bot = CitebotBot(settings, Engine(settings.engine_config()), guild_ready_timeout=0.05)
        runner = asyncio.create_task(bot.start(TOKEN))
        while not bot.is_ready():
            await asyncio.sleep(0.01)
        big = article(args.paragraphs).encode()
        options, resolved = server.attachment("big.txt", big)
        stop, stalls, when = asyncio.Event(), [], []
        watcher = asyncio.create_task(watch_loop(stop, stalls, when))
        reindex_started = time.monotonic()
        reindex = host.call(server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD))
        while "Embedding" not in ((server.original(reindex) or {}).get("content") or ""):
            await asyncio.sleep(0.05)

        sent: dict[str, float] = {}
        for n in range(args.asks):
            t = time.monotonic()
            token = host.call(
                server.slash(
                    "ask", [{"name": "question", "type": 3, "value": "why did relations rupture?"}], user_id=10_000 + n
                )
            )
            sent[token] = t
        mention_sent: dict[str, float] = {}
        for n in range(args.mentions):
            t = time.monotonic()
            mention_sent[host.call(server.mention("<@4242> who did china detain?", author_id=20_000 + n))] = t
            await asyncio.sleep(args.mention_gap)

        def since_sent(prefix: str) -> dict[str, float]:
            """Seconds from each /ask dispatch to the bot's first request under `prefix`."""
            out = {}
            for r in server.calls("POST", prefix):
                token = r.path.split("/")[3]  # /interactions/<id>/<token>/… and /webhooks/<app>/<token>
                if token in sent and token not in out:
                    out[token] = r.at - sent[token]
            return out

        def mention_replies() -> dict[str, float]:
            out = {}
            for r in server.calls("POST", "/channels/"):
                ref = str(((r.body or {}).get("message_reference") or {}).get("message_id"))
                if ref in mention_sent:
                    out[ref] = r.at - mention_sent[ref]
            return out

        deadline = time.monotonic() + 120
        while (
            len(since_sent("/webhooks/")) < args.asks or len(mention_replies()) < args.mentions
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        reindex_done_during = "Reindexed" in ((server.original(reindex) or {}).get("content") or "")
        while (
            "Reindexed" not in ((server.original(reindex) or {}).get("content") or "")
            and time.monotonic() < deadline + 120
        ):
            await asyncio.sleep(0.1)
        reindex_seconds = time.monotonic() - reindex_started
        stop.set()
        await watcher
        await bot.close()
        await runner
    host.stop()

    ack, answer, mention = since_sent("/interactions/"), since_sent("/webhooks/"), mention_replies()
    ack_s, answer_s, mention_s = (
        summary_ms(list(ack.values())),
        summary_ms(list(answer.values())),
        summary_ms(list(mention.values())),
    )
    worst_stall = max(stalls) * 1000 if stalls else 0.0
    worst_at = when[stalls.index(max(stalls))] - reindex_started if stalls else 0.0
    edits = [
        (r.at - reindex_started, (r.body or {}).get("content", "")[:40]) for r in server.calls("PATCH", "/webhooks/")
    ]
    print(
        "reindex progress edits (s after start):",
        [(round(t, 2), c) for t, c in edits][:3],
        "...",
        [(round(t, 2), c) for t, c in edits][-3:],
    )
    report(
        "bot under load",
        [
            ("/ask acknowledged", f"{len(ack)}/{args.asks}", ""),
            ("ack max (ms)", round(max(ack.values()) * 1000, 1), "target < 3000 for all"),
            ("ack p50 (ms)", ack_s["p50_ms"], ""),
            ("/ask answer p50 (ms)", answer_s["p50_ms"], f"p99 {answer_s['p99_ms']}"),
            ("mentions answered", f"{len(mention)}/{args.mentions}", ""),
            ("mention answer p50 (ms)", mention_s["p50_ms"], f"p99 {mention_s['p99_ms']}"),
            (
                "event loop worst stall (ms)",
                round(worst_stall, 1),
                f"target <= 50; ended {worst_at:.2f} s after /reindex",
            ),
            ("stalls > 50 ms", sum(1 for s in stalls if s > 0.05), f"of {len(stalls)} ticks"),
            (
                "reindex (s)",
                round(reindex_seconds, 1),
                f"{args.paragraphs} paragraphs; finished during load: {reindex_done_during}",
            ),
        ],
        {
            "ack": ack_s,
            "answer": answer_s,
            "mention": mention_s,
            "worst_stall_ms": worst_stall,
            "ticks": len(stalls),
            "reindex_s": reindex_seconds,
            "asks": args.asks,
            "mentions": args.mentions,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asks", type=int, default=50)
    parser.add_argument("--mentions", type=int, default=100)
    parser.add_argument("--mention-gap", type=float, default=0.02)
    parser.add_argument("--paragraphs", type=int, default=2000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

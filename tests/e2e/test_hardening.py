"""Hostile input, broken files, flaky Discord and abuse, each tried through the loopback server."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from citebot.bot.client import EXIT_FAILED, CitebotBot, serve
from citebot.bot.render import DESCRIPTION_LIMIT
from citebot.bot.settings import Settings

from .conftest import running_bot, with_settings
from .fake_discord import GUILD_ID, MANAGE_GUILD, FakeDiscord
from .helpers import RUPTURE, ask, descriptions, replies_to

LIVE_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")

HOSTILE_QUESTIONS = [
    "",
    "     ",
    "why did relations rupture? " * 150,  # ~4,000 characters
    "🙂🔥🇨🇦🙂",
    "?!?!... ---",
    "почему отношения rupture? 为什么 relations ruptured",
    "why\u200b did\u200d relations\x00 rupture\x07?",
    "Diplomatic relations between the two nations ruptured in 2018, "
    "when China arbitrarily detained two Canadian citizens",
    "```py\nprint('why did relations rupture?')\n``` **bold** __under__ ||spoiler|| > quote",
    "@everyone why did relations rupture?",
    "<@&1234> <#2000> @here who wrote this?",
]


def all_text(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [
            embed.get("description") or "",
            embed.get("title") or "",
            (embed.get("author") or {}).get("name", ""),
            (embed.get("footer") or {}).get("text", ""),
        ]
    return "\n".join(parts)


def assert_safe(message: dict[str, Any]) -> None:
    text = all_text(message)
    assert not LIVE_MENTION.search(text), text
    assert message["allowed_mentions"]["parse"] == []
    assert len(message.get("content") or "") <= 2000
    for embed in message.get("embeds") or []:
        assert len(embed.get("description") or "") <= DESCRIPTION_LIMIT


async def test_hostile_questions_by_mention_get_safe_replies(server: FakeDiscord, bot: CitebotBot) -> None:
    replies = []
    for n, question in enumerate(HOSTILE_QUESTIONS):
        message_id = await server.mention(f"<@4242> {question}", author_id=3000 + n)
        (reply,) = await server.wait_for(lambda message_id=message_id: replies_to(server, message_id), timeout=20)
        assert_safe(reply)
        assert all_text(reply).strip()
        replies.append(reply)
    quoting = HOSTILE_QUESTIONS.index(next(q for q in HOSTILE_QUESTIONS if q.startswith("Diplomatic relations")))
    assert RUPTURE in descriptions(replies[quoting])  # a question that quotes the article finds it


async def test_hostile_questions_by_slash_get_safe_replies(server: FakeDiscord, bot: CitebotBot) -> None:
    for n, question in enumerate(q for q in HOSTILE_QUESTIONS if q.strip()):
        token = await server.slash("ask", [{"name": "question", "type": 3, "value": question}], user_id=4000 + n)
        (followup,) = await server.wait_for(lambda token=token: server.followups(token), timeout=20)
        assert_safe(followup)
        assert all_text(followup).strip()


def _utf16() -> bytes:
    return "Café Owners Protest\n\nThe café owners of Québec protested the new rules on Monday morning.\n".encode(
        "utf-16"
    )


UPLOADS = [
    ("empty.txt", b"", "refused", "empty"),
    ("picture.txt", b"\x89PNG\r\n\x1a\n" + bytes(64), "refused", "PNG"),
    ("archive.md", b"PK\x03\x04" + bytes(64), "refused", "ZIP"),
    ("notes.docx", b"Some text.", "refused", "not a Word document"),
    ("minutes.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "refused", "Save it as .docx"),
    ("slides.pptx", b"PK\x03\x04" + bytes(64), "refused", ".txt, .md, .html, .pdf or .docx"),
    ("utf16.txt", _utf16(), "indexed", "café owners of Québec protested"),
    (
        "latin1.txt",
        "Café Owners Protest\n\nThe café owners of Québec protested the new rules on Monday morning.\n".encode(
            "latin-1"
        ),
        "indexed",
        "café owners of Québec protested",
    ),
    (
        "page.html",
        b"<html><head><style>p{color:red}</style><script>alert('Read Entire Article')</script></head><body>"
        b"<h1>Harbour Vote</h1><p>The council of Harbour Town voted on Monday to lease its disused docks.</p>"
        b"</body></html>",
        "indexed",
        "lease its disused docks",
    ),
    (
        "furniture.txt",
        b"Sign in | Register | Subscribe\nAdvertisement\n3 min read\n\xc2\xa9 2025 Gazette\n",
        "refused",
        "No article text",
    ),
    (
        "one-paragraph.txt",
        ("Long Report\n\n" + "the harbour council met again and talked about docks " * 1000).encode(),
        "indexed",
        "harbour council met",
    ),
    ("tiny-lines.txt", ("Tiny Lines\n\n" + "\n".join(f"item {i}" for i in range(3000))).encode(), "indexed", "item"),
    (
        "mentions.txt",
        ("Ping Storm\n\n" + "@everyone the council voted on the docks @here <@&42> today.\n\n" * 50).encode(),
        "indexed",
        "the council voted on the docks",
    ),
]


@pytest.mark.parametrize(("name", "data", "outcome", "expected"), UPLOADS, ids=[u[0] for u in UPLOADS])
async def test_hostile_uploads_are_indexed_or_refused_and_nothing_is_lost(
    server: FakeDiscord, bot: CitebotBot, name: str, data: bytes, outcome: str, expected: str
) -> None:
    options, resolved = server.attachment(name, data)
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)

    def finished() -> str | None:
        callbacks = [c for c in server.calls("POST", "/interactions/") if c.body["type"] == 4]
        if callbacks:
            return callbacks[0].body["data"]["content"]
        content = (server.original(token) or {}).get("content") or ""
        return content if ("Reindexed" in content or "Not reindexed" in content) else None

    result = await server.wait_for(finished, timeout=60)
    if outcome == "refused":
        assert expected in result and "Reindexed" not in result
        assert RUPTURE in descriptions(await ask(server, "why did relations rupture?", user_id=1))
    else:
        assert "Reindexed" in result, result
        stored = bot.service.engine.answering(GUILD_ID).loaded().stored
        assert any(expected.lower() in s.text.lower() for s in stored.sentences)
        assert all(len(s.text) <= 600 for s in stored.sentences)
        answer = await ask(server, expected, user_id=2)
        assert_safe(answer)
        assert "Read Entire Article" not in all_text(answer)


async def test_429_on_the_followup_is_retried(server: FakeDiscord, bot: CitebotBot) -> None:
    server.rate_limit_next["/webhooks/"] = 1
    answer = await ask(server, "why did relations rupture?")
    assert RUPTURE in descriptions(answer)
    assert len(server.calls("POST", "/webhooks/")) == 2


async def test_resumable_close_then_resume(server: FakeDiscord, bot: CitebotBot) -> None:
    await server.close_gateway(4000)
    await server.wait_for(lambda: server.resumes == 1)
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?"))


async def test_invalid_session_then_identify_again(server: FakeDiscord, bot: CitebotBot) -> None:
    await server.send_op(9, False)
    await server.wait_for(lambda: server.identifies == 2, timeout=15)
    # Let the new session's READY be handled before the test ends (its handlers must not outlive the bot).
    await server.wait_for(lambda: bot.is_ready() and bot.ws is not None and bot.ws.session_id is not None, timeout=15)
    await asyncio.sleep(0.2)
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?"))


async def test_a_burst_from_one_member_does_not_starve_others(
    server: FakeDiscord, settings: Settings, make_engine
) -> None:
    strict = with_settings(settings, ask_cooldown_seconds=30.0, max_concurrent_answers=2)
    async with running_bot(strict, make_engine(strict)):
        for _ in range(200):
            await server.mention("<@4242> why did relations rupture?", author_id=666)
        other = await server.mention("<@4242> who wrote this?", author_id=777)
        (reply,) = await server.wait_for(lambda: replies_to(server, other), timeout=20)
        assert "Matina" in descriptions(reply)
    spammer_replies = [m for m in server.channel_messages() if m is not reply]
    assert len(spammer_replies) == 2  # one answer, one "try again" notice, the rest ignored


async def test_model_that_cannot_load_exits_with_a_clear_status(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    broken = with_settings(settings, embedding_model="/nonexistent/model-folder")
    assert await serve(broken, guild_ready_timeout=0.05) == EXIT_FAILED
    assert "citebot cannot start" in caplog.text and "/nonexistent/model-folder" in caplog.text


async def test_upload_names_never_choose_paths(server: FakeDiscord, bot: CitebotBot, settings: Settings) -> None:
    options, resolved = server.attachment("evil.txt", b"Evil Title\n\nA perfectly ordinary sentence about docks.")
    resolved["attachments"][options[0]["value"]]["filename"] = "../../../../tmp/evil.txt"
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    await server.wait_for(lambda: "Reindexed" in ((server.original(token) or {}).get("content") or ""), timeout=30)
    kept = [Path(s.path) for s in bot.service.engine.answering(GUILD_ID).loaded().stored.manifest.sources]
    assert all(p.resolve().is_relative_to(settings.index_dir.resolve()) for p in kept)
    assert not Path("/tmp/evil.txt").exists()


def test_env_file_is_ignored_by_git() -> None:
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text().split()
    assert ".env" in ignored


async def test_an_event_delivered_twice_is_answered_once(server: FakeDiscord, bot: CitebotBot) -> None:
    message_id = await server.mention("<@4242> why did relations rupture?")
    await server.replay()
    await server.wait_for(lambda: replies_to(server, message_id))
    token = await server.slash("ask", [{"name": "question", "type": 3, "value": "who wrote this?"}])
    await server.replay()
    await server.wait_for(lambda: server.followups(token), timeout=30)
    marker = await server.mention("<@4242> when was it published?")
    await server.wait_for(lambda: replies_to(server, marker))
    assert len(replies_to(server, message_id)) == 1
    assert len(server.followups(token)) == 1
    assert len([c for c in server.calls("POST", "/interactions/")]) == 1


async def test_a_twenty_second_outage_delays_answers_but_loses_none(server: FakeDiscord, bot: CitebotBot) -> None:
    until = time.monotonic() + 20
    server.outage_until = {"/webhooks/": until, "/channels/": until}
    token = await server.slash("ask", [{"name": "question", "type": 3, "value": "why did relations rupture?"}])
    message_id = await server.mention("<@4242> who wrote this?")
    (followup,) = await server.wait_for(lambda: server.followups(token), timeout=60)
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id), timeout=60)
    assert time.monotonic() >= until
    assert RUPTURE in descriptions(followup) and "Matina" in descriptions(reply)
    assert len(server.followups(token)) == 1 and len(replies_to(server, message_id)) == 1


async def test_an_event_the_client_cannot_parse_is_skipped(server: FakeDiscord, bot: CitebotBot) -> None:
    await server.send_event("INTERACTION_CREATE", {"id": "1", "application_id": str(4242)})  # no type, no token
    message_id = await server.mention("<@4242> why did relations rupture?")
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id), timeout=30)
    assert RUPTURE in descriptions(reply) and server.identifies == 1 and not bot.is_closed()


async def test_a_stop_answers_every_acknowledged_question(server: FakeDiscord, bot: CitebotBot) -> None:
    tokens = [
        await server.slash(
            "ask", [{"name": "question", "type": 3, "value": f"why did relations rupture? {i}"}], user_id=600 + i
        )
        for i in range(20)
    ]
    await server.wait_for(lambda: len(server.calls("POST", "/interactions/")) >= 5)
    await bot.shutdown()
    acknowledged = [c for c in server.calls("POST", "/interactions/") if c.body["type"] == 5]
    refused = [c for c in server.calls("POST", "/interactions/") if c.body["type"] == 4]
    assert len(acknowledged) + len(refused) == 20 and acknowledged
    answered = [t for t in tokens if server.followups(t)]
    assert len(answered) == len(acknowledged)  # every acknowledged question got its answer
    assert all(c.body["data"]["content"] == "I'm restarting; ask again in a minute." for c in refused)


async def test_start_up_failures_end_with_one_clear_line(
    server: FakeDiscord,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from citebot.bot import client

    monkeypatch.setattr(client, "LOGIN_RETRY_DELAYS", (0.01, 0.01))
    rejected = FakeDiscord(close_code_on_identify=4004)
    await rejected.start()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # Discord's address answers, but nothing speaks HTTP there

    unreachable = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    dead_api = f"http://127.0.0.1:{unreachable.sockets[0].getsockname()[1]}/api/v10"
    unwritable = tmp_path / "a-file"
    unwritable.write_text("not a folder")
    cases = [
        (
            with_settings(settings, discord_api_base=rejected.api_base, discord_gateway_url=rejected.gateway_url),
            "Discord rejected the token (4004)",
        ),
        (
            with_settings(settings, discord_api_base=dead_api),
            f"Discord cannot be reached at {dead_api} (",
        ),
        (with_settings(settings, index_dir=unwritable / "index"), "is not writable"),
    ]
    try:
        for case, line in cases:
            caplog.clear()
            with caplog.at_level("INFO"):
                assert await serve(case, guild_ready_timeout=0.05) == EXIT_FAILED
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and line in errors[0].getMessage(), [r.getMessage() for r in errors]
            assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.INFO)
    finally:
        await rejected.stop()
        unreachable.close()
        await unreachable.wait_closed()

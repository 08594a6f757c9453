"""Hostile input, broken files, flaky Discord and abuse, each tried through the loopback server."""

from __future__ import annotations

import re
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
    ("notes.docx", b"Some text.", "refused", ".txt, .md or .html"),
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
        stored = bot.service.engine.live(GUILD_ID).stored
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
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?"))


async def test_a_burst_from_one_member_does_not_starve_others(
    server: FakeDiscord, settings: Settings, make_engine
) -> None:  # type: ignore[no-untyped-def]
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
    kept = [Path(s.path) for s in bot.service.engine.live(GUILD_ID).stored.manifest.sources]
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

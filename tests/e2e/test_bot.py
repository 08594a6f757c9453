"""End to end: the real discord.py client against the loopback Discord-compatible server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from citebot.bot.client import EXIT_FAILED, EXIT_INTENTS, CitebotBot, serve
from citebot.bot.settings import Settings

from .conftest import running_bot, with_settings
from .fake_discord import CHANNEL_ID, GUILD_ID, MANAGE_GUILD, FakeDiscord
from .helpers import RUPTURE, ask, descriptions, replies_to


async def test_login_ready_and_command_sync_body(server: FakeDiscord, bot: CitebotBot) -> None:
    (sync,) = server.calls("PUT", "/applications/")
    assert sync.path == "/applications/4242/commands"
    commands = {c["name"]: c for c in sync.body}
    assert set(commands) == {
        "ask",
        "summary",
        "reindex",
        "about",
        "docs",
        "insights",
        "config",
        "Ask citebot",
        "Add to citebot library",
    }
    assert commands["Ask citebot"]["type"] == 3  # a message context-menu command (Apps → Ask citebot)
    for admin in ("insights", "config"):
        assert str(commands[admin]["default_member_permissions"]) == str(MANAGE_GUILD)
        assert commands[admin]["contexts"] == [0]
    assert {o["name"] for o in commands["insights"]["options"]} == {"show", "forget"}
    assert {o["name"] for o in commands["config"]["options"]} == {"ask-channel", "forum", "show"}
    assert {o["name"] for o in commands["docs"]["options"]} == {"add", "list", "remove"}
    assert commands["docs"]["contexts"] == [0]  # servers only
    ask_options = {o["name"]: o for o in commands["ask"]["options"]}
    assert ask_options["question"]["type"] == 3 and ask_options["question"]["required"] is True
    assert ask_options["private"]["type"] == 5
    assert ask_options["document"]["type"] == 3 and ask_options["document"]["autocomplete"] is True
    assert ask_options["thread"]["type"] == 5
    assert str(commands["reindex"]["default_member_permissions"]) == str(MANAGE_GUILD)
    assert commands["reindex"]["options"][0]["type"] == 11  # attachment
    assert commands["about"]["default_member_permissions"] is None
    assert bot.get_guild(GUILD_ID) is not None


async def test_sync_goes_to_the_dev_guild_and_is_skipped_when_unchanged(
    server: FakeDiscord, settings: Settings, make_engine
) -> None:
    dev = with_settings(settings, discord_guild_id=GUILD_ID)
    async with running_bot(dev, make_engine(dev)):
        pass
    async with running_bot(dev, make_engine(dev)):
        pass
    syncs = server.calls("PUT", "/applications/")
    assert [s.path for s in syncs] == [f"/applications/4242/guilds/{GUILD_ID}/commands"]


async def test_mention_gets_typing_then_a_reply_quoting_the_article(server: FakeDiscord, bot: CitebotBot) -> None:
    message_id = await server.mention("<@4242> why did relations rupture?")
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id))
    text = descriptions(reply)
    assert RUPTURE in text and "¶3" in text
    assert reply["embeds"][0]["footer"]["text"] == "Matina Stevis-Gridneff · Jan. 14, 2026"
    assert reply["allowed_mentions"]["parse"] == []
    typing = server.calls("POST", f"/channels/{CHANNEL_ID}/typing")
    posted = server.calls("POST", f"/channels/{CHANNEL_ID}/messages")
    assert typing and typing[0].at <= posted[0].at


async def test_messages_without_a_mention_or_from_bots_are_ignored(server: FakeDiscord, bot: CitebotBot) -> None:
    await server.mention("why did relations rupture?", mention_bot=False)
    await server.mention("<@4242> why did relations rupture?", bot_author=True, author_id=777)
    marker = await server.mention("<@4242> who wrote this?")
    await server.wait_for(lambda: replies_to(server, marker))
    assert len(server.channel_messages()) == 1


async def test_slash_ask_defers_then_follows_up_with_quote_and_embed(server: FakeDiscord, bot: CitebotBot) -> None:
    token = await server.slash("ask", [{"name": "question", "type": 3, "value": "why did relations rupture?"}])
    (followup,) = await server.wait_for(lambda: server.followups(token))
    (callback,) = server.calls("POST", "/interactions/")
    assert callback.body["type"] == 5  # deferred: acknowledged at once
    text = descriptions(followup)
    assert RUPTURE in text and "¶3" in text
    assert followup["embeds"][0]["title"].startswith("Mark Carney Heads to Beijing")
    assert not followup["flags"] & 64


async def test_private_ask_is_ephemeral(server: FakeDiscord, bot: CitebotBot) -> None:
    token = await server.slash(
        "ask",
        [{"name": "question", "type": 3, "value": "who wrote this?"}, {"name": "private", "type": 5, "value": True}],
    )
    (followup,) = await server.wait_for(lambda: server.followups(token))
    (callback,) = server.calls("POST", "/interactions/")
    assert callback.body["data"]["flags"] & 64 and followup["flags"] & 64
    assert "Matina Stevis-Gridneff" in descriptions(followup)


async def test_off_topic_question_gets_a_plain_abstention(server: FakeDiscord, bot: CitebotBot) -> None:
    token = await server.slash("ask", [{"name": "question", "type": 3, "value": "What is the capital of Australia?"}])
    (followup,) = await server.wait_for(lambda: server.followups(token))
    text = descriptions(followup)
    assert "doesn't answer that" in text and "¶" not in text


async def test_reindex_is_refused_without_manage_server(server: FakeDiscord, bot: CitebotBot) -> None:
    options, resolved = server.attachment("other.txt", b"Other Title\n\nSomething else entirely happened here today.")
    await server.slash("reindex", options, resolved=resolved, permissions=0)
    (callback,) = await server.wait_for(lambda: server.calls("POST", "/interactions/"))
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] & 64
    assert "Manage Server" in callback.body["data"]["content"]
    assert not server.calls("GET", "/files")  # nothing downloaded
    assert bot.service.engine.answering(GUILD_ID).describe().titles[0].startswith("Mark Carney")


HARBOUR = (
    b"Harbour Town Votes to Turn Old Docks Into a Wind-Power Yard\n\nBy Lars Holm\n\nPublished March 3, 2025\n\n"
    b"The council of Harbour Town voted on Monday to lease its disused docks to a wind-turbine consortium.\n\n"
    b"The vote passed by nine votes to four, @everyone in the chamber agreed it was close.\n"
)


async def test_reindex_with_an_upload_answers_from_the_new_document(server: FakeDiscord, bot: CitebotBot) -> None:
    options, resolved = server.attachment("harbour.txt", HARBOUR)
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    await server.wait_for(lambda: "Reindexed" in ((server.original(token) or {}).get("content") or ""), timeout=30)
    summary = server.original(token)["content"]
    assert "Harbour Town" in summary and "2 paragraphs" in summary
    edits = [r.body.get("content", "") for r in server.calls("PATCH", "/webhooks/")]
    assert any("Downloading" in e or "Embedding" in e or "Reading" in e for e in edits[:-1])
    answer = await ask(server, "by how many votes did the vote pass?")
    assert "nine votes to four" in descriptions(answer)
    # The quoted @everyone is broken up and nothing may ping.
    assert "@everyone" not in descriptions(answer) and "@\u200beveryone" in descriptions(answer)
    assert answer["allowed_mentions"]["parse"] == []


async def test_bad_upload_is_refused_and_the_old_index_keeps_serving(server: FakeDiscord, bot: CitebotBot) -> None:
    options, resolved = server.attachment("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(200))
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    await server.wait_for(lambda: "Not reindexed" in ((server.original(token) or {}).get("content") or ""))
    assert "PNG" in server.original(token)["content"]
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?"))


async def test_oversized_upload_is_refused_before_download(server: FakeDiscord, bot: CitebotBot) -> None:
    options, resolved = server.attachment("huge.txt", b"x", declared_size=50_000_000)
    await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    (callback,) = await server.wait_for(lambda: server.calls("POST", "/interactions/"))
    assert callback.body["type"] == 4 and "limit" in callback.body["data"]["content"]
    assert not server.calls("GET", "/files")


async def test_questions_are_answered_while_a_reindex_runs(server: FakeDiscord, bot: CitebotBot) -> None:
    sentences = [
        f"Report {i} says that shipment number {i} of turbine blades reached the northern quay on time."
        for i in range(1500)
    ]  # big enough that the build outlasts an answer
    big = ("Turbine Blade Shipments Log\n\n" + "\n\n".join(sentences)).encode()
    options, resolved = server.attachment("big.txt", big)
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    await server.wait_for(lambda: "Embedding" in ((server.original(token) or {}).get("content") or ""), timeout=30)
    answer = await ask(server, "why did relations rupture?")
    assert RUPTURE in descriptions(answer)  # the old index still serves
    await server.wait_for(lambda: "Reindexed" in ((server.original(token) or {}).get("content") or ""), timeout=120)
    answered_at = server.calls("POST", "/webhooks/")[-1].at
    finished_at = next(
        r.at for r in server.calls("PATCH", "/webhooks/") if "Reindexed" in (r.body or {}).get("content", "")
    )
    assert answered_at < finished_at  # the answer came while the reindex was still running
    assert "shipment" in descriptions(await ask(server, "which shipment reached the northern quay?"))


async def test_a_429_is_retried(server: FakeDiscord, bot: CitebotBot) -> None:
    server.rate_limit_next[f"/channels/{CHANNEL_ID}/messages"] = 1
    message_id = await server.mention("<@4242> why did relations rupture?")
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id))
    assert RUPTURE in descriptions(reply)
    assert len(server.calls("POST", f"/channels/{CHANNEL_ID}/messages")) == 2


async def test_reconnect_then_resume_and_answers_still_served(server: FakeDiscord, bot: CitebotBot) -> None:
    await server.send_op(7)
    await server.wait_for(lambda: server.resumes == 1)
    message_id = await server.mention("<@4242> why did relations rupture?")
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id))
    assert RUPTURE in descriptions(reply)
    assert server.identifies == 1


async def test_clean_shutdown_leaves_no_tasks(server: FakeDiscord, settings: Settings, make_engine) -> None:
    async with running_bot(settings, make_engine(settings)) as bot:
        await server.mention("<@4242> who wrote this?")
        await server.wait_for(lambda: server.channel_messages())
    await asyncio.sleep(0)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert leftover == []
    assert bot.is_closed() and bot.downloads is not None and bot.downloads.closed


async def test_privileged_intent_close_exits_with_a_clear_status(settings: Settings) -> None:
    strict = FakeDiscord(close_code_on_identify=4014)
    await strict.start()
    try:
        code = await serve(
            with_settings(settings, discord_api_base=strict.api_base, discord_gateway_url=strict.gateway_url),
            guild_ready_timeout=0.05,
        )
    finally:
        await strict.stop()
    assert code == EXIT_INTENTS


async def test_rejected_token_exits_with_a_clear_status(settings: Settings) -> None:
    assert await serve(with_settings(settings, discord_token="wrong")) == EXIT_FAILED


async def test_cooldown_answers_with_a_friendly_wait(server: FakeDiscord, settings: Settings, make_engine) -> None:
    slow = with_settings(settings, ask_cooldown_seconds=30.0)
    async with running_bot(slow, make_engine(slow)):
        first = await server.mention("<@4242> why did relations rupture?")
        await server.wait_for(lambda: replies_to(server, first))
        second = await server.mention("<@4242> who wrote this?")
        (reply,) = await server.wait_for(lambda: replies_to(server, second))
        assert "try again in" in reply["content"] and not reply.get("embeds")
        other = await server.mention("<@4242> who wrote this?", author_id=999)  # someone else is not held up
        (answer,) = await server.wait_for(lambda: replies_to(server, other))
        assert "Matina" in descriptions(answer)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_upload_larger_than_it_declared_is_cut_off(
    server: FakeDiscord, bot: CitebotBot, chunked: bool
) -> None:
    limit = bot.settings.max_upload_bytes
    options, resolved = server.attachment("liar.txt", b"A Title\n\n" + b"word " * (limit // 4), declared_size=100)
    if chunked:
        server.chunked_files.add("liar.txt")
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    await server.wait_for(lambda: "Not reindexed" in ((server.original(token) or {}).get("content") or ""))
    expected = "grew past the" if chunked else "The upload is"  # the download itself stopped it
    assert expected in server.original(token)["content"]
    assert bot.service.engine.answering(GUILD_ID).describe().titles[0].startswith("Mark Carney")


async def test_a_second_reindex_is_told_one_is_running(server: FakeDiscord, bot: CitebotBot) -> None:
    big = (
        "Shipments Log\n\n" + "\n\n".join(f"Shipment {i} of blades reached the quay on day {i}." for i in range(800))
    ).encode()
    options, resolved = server.attachment("big.txt", big)
    first = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD)
    await server.wait_for(lambda: "Embedding" in ((server.original(first) or {}).get("content") or ""), timeout=30)
    await server.slash("reindex", [], permissions=MANAGE_GUILD)
    callbacks = await server.wait_for(
        lambda: [c for c in server.calls("POST", "/interactions/") if c.body["type"] == 4]
    )
    assert "still running" in callbacks[0].body["data"]["content"]
    await server.wait_for(lambda: "Reindexed" in ((server.original(first) or {}).get("content") or ""), timeout=120)


async def test_expired_interaction_token_during_reindex_falls_back_to_the_channel(
    server: FakeDiscord, bot: CitebotBot
) -> None:
    server.fail_next["/webhooks/"] = 1000  # every edit of the deferred reply is refused as expired
    token = await server.slash("reindex", [], permissions=MANAGE_GUILD)
    (notice,) = await server.wait_for(
        lambda: [m for m in server.channel_messages() if "Reindexed" in m["content"]], timeout=30
    )
    assert "<@555>" in notice["content"] and [str(u) for u in notice["allowed_mentions"]["users"]] == ["555"]
    assert server.original(token) is not None  # only the deferral itself went through


async def test_a_failing_command_is_answered_by_the_one_error_handler(
    server: FakeDiscord, bot: CitebotBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citebot.index.errors import CitebotError

    async def unavailable(library: object) -> None:
        raise CitebotError("the index is being repaired")

    monkeypatch.setattr(bot.service, "describe", unavailable)
    token = await server.slash("about")  # answered at once: the error is the first response
    interaction_id = token.removeprefix("itoken-")
    (call,) = await server.wait_for(lambda: server.calls("POST", f"/interactions/{interaction_id}/"))
    assert call.body["type"] == 4 and call.body["data"]["flags"] & 64
    assert "Sorry, I can't do that right now: the index is being repaired" in call.body["data"]["content"]
    token = await server.slash("docs list")  # deferred first: the error comes as the follow-up
    (followup,) = await server.wait_for(lambda: server.followups(token))
    assert "Sorry, I can't do that right now: the index is being repaired" in followup["content"]
    assert followup["flags"] & 64


async def test_healthz_and_metrics_are_served_when_a_port_is_set(
    server: FakeDiscord, settings: Settings, make_engine, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    import aiohttp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    watched = with_settings(settings, metrics_port=port)
    caplog.set_level(logging.INFO, logger="citebot.questions")
    async with running_bot(watched, make_engine(watched)), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{port}"
        async with http.get(f"{base}/healthz") as health:
            assert health.status == 200
        message_id = await server.mention("<@4242> why did relations rupture?")
        await server.wait_for(lambda: replies_to(server, message_id))
        async with http.get(f"{base}/metrics") as scrape:
            text = await scrape.text()
        assert 'citebot_questions_total{outcome="answered"} 1.0' in text
        assert 'citebot_questions_total{outcome="abstained"} 0.0' in text
        assert "citebot_answer_seconds_count 1.0" in text and "citebot_loaded_libraries 1.0" in text
        assert 'citebot_gateway_latency_seconds{shard="0"}' in text
    (line,) = [r.getMessage() for r in caplog.records if r.name == "citebot.questions"]
    assert line.startswith(f"question server={GUILD_ID} library=default version=") and "outcome=answered" in line
    assert "latency_ms=" in line

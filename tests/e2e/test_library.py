"""Each server its own library: /docs, per-server /reindex and /about, isolation, DMs, limits, leaving."""

from __future__ import annotations

import asyncio
from typing import Any

from citebot.bot.client import CitebotBot
from citebot.bot.settings import Settings

from .conftest import running_bot, with_settings
from .fake_discord import GUILD_B, GUILD_ID, MANAGE_GUILD, FakeDiscord
from .helpers import RUPTURE, ask, descriptions, replies_to

HARBOUR = (
    b"Harbour Town Votes to Turn Old Docks Into a Wind-Power Yard\n\nBy Lars Holm\n\n"
    b"The council of Harbour Town voted on Monday to lease its disused docks to a wind-turbine consortium.\n\n"
    b"The lease runs for ninety years and starts next spring.\n"
)
BAKERY = (
    b"Bakery Opens on Main Street\n\nBy Ada Crumb\n\n"
    b"A new bakery opened on Main Street on Friday, selling rye bread and cardamom buns every morning.\n"
)


def result_of(server: FakeDiscord, token: str, *words: str) -> Any:
    """Wait for the deferred reply (or an immediate one) to contain one of `words`; return its text."""

    def finished() -> str | None:
        callbacks = [c for c in server.calls("POST", f"/interactions/{token.removeprefix('itoken-')}/")]
        immediate = [c.body["data"].get("content") or "" for c in callbacks if c.body.get("type") == 4]
        if immediate:
            return immediate[0]
        content = (server.original(token) or {}).get("content") or ""
        return content if any(w in content for w in words) else None

    return server.wait_for(finished, timeout=60)


async def add(server: FakeDiscord, guild: int, name: str, data: bytes, permissions: int = MANAGE_GUILD) -> str:
    options, resolved = server.attachment(name, data)
    token = await server.slash("docs add", options, resolved=resolved, permissions=permissions, guild_id=guild)
    return str(await result_of(server, token, "Added", "Not added"))


async def listing(server: FakeDiscord, guild: int | None) -> str:
    token = await server.slash("docs list", [], guild_id=guild)
    (followup,) = await server.wait_for(lambda: server.followups(token))
    return descriptions(followup)


async def choices(server: FakeDiscord, command: str, guild: int, typed: str = "") -> list[dict[str, Any]]:
    option = {"name": "document", "type": 3, "value": typed, "focused": True}
    extra = [{"name": "question", "type": 3, "value": "x"}] if command == "ask" else []
    token = await server.slash(command, [*extra, option], guild_id=guild, kind=4, permissions=MANAGE_GUILD)
    (found,) = await server.wait_for(lambda: [c for c in [server.autocomplete_choices(token)] if c is not None])
    return list(found)


async def test_a_server_adds_documents_and_only_it_answers_from_them(server: FakeDiscord, bot: CitebotBot) -> None:
    assert "Added “Harbour Town Votes" in await add(server, GUILD_B, "harbour.txt", HARBOUR)
    assert "now has 2 documents" in await add(server, GUILD_B, "bakery.txt", BAKERY)
    in_b = descriptions(await ask(server, "what does the bakery sell?", guild_id=GUILD_B))
    assert "cardamom buns" in in_b and "¶1" in in_b
    # Server A still answers from the default library and sees nothing of B's.
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?", guild_id=GUILD_ID))
    a_answer = descriptions(await ask(server, "what does the bakery sell?", guild_id=GUILD_ID))
    assert "cardamom" not in a_answer and "doesn't answer that" in a_answer
    assert "Bakery" not in await listing(server, GUILD_ID) and "Mark Carney" in await listing(server, GUILD_ID)
    b_list = await listing(server, GUILD_B)
    assert "Bakery Opens" in b_list and "Harbour Town" in b_list and "added by member555" in b_list
    assert "bakery.txt" in b_list and "Mark Carney" not in b_list
    assert [c["name"] for c in await choices(server, "ask", GUILD_ID)] == [
        "Mark Carney Heads to Beijing to Discuss Canada-China Relations as U.S. Outlook Darkens"
    ]
    names = [c["name"] for c in await choices(server, "ask", GUILD_B, typed="bak")]
    assert names == ["Bakery Opens on Main Street"]
    assert await choices(server, "docs remove", GUILD_ID) == []
    # "Who wrote it?" in a library of two: each document's byline, each named.
    who = descriptions(await ask(server, "who wrote it?", guild_id=GUILD_B))
    assert "By Lars Holm" in who and "By Ada Crumb" in who and "Bakery Opens" in who


async def test_ask_can_be_limited_to_one_document(server: FakeDiscord, bot: CitebotBot) -> None:
    await add(server, GUILD_B, "harbour.txt", HARBOUR)
    await add(server, GUILD_B, "bakery.txt", BAKERY)
    (bakery,) = [c for c in await choices(server, "ask", GUILD_B) if c["name"].startswith("Bakery")]
    options = [
        {"name": "question", "type": 3, "value": "what happened on Monday at the docks?"},
        {"name": "document", "type": 3, "value": bakery["value"]},
    ]
    token = await server.slash("ask", options, guild_id=GUILD_B)
    (followup,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    assert "disused docks" not in descriptions(followup)


async def test_replace_reindex_and_remove_in_one_server_change_nothing_in_another(
    server: FakeDiscord, bot: CitebotBot
) -> None:
    await add(server, GUILD_B, "harbour.txt", HARBOUR)
    options, resolved = server.attachment("bakery.txt", BAKERY)
    token = await server.slash("reindex", options, resolved=resolved, permissions=MANAGE_GUILD, guild_id=GUILD_B)
    assert "Reindexed “Bakery Opens" in await result_of(server, token, "Reindexed", "Not reindexed")
    token = await server.slash("reindex", [], permissions=MANAGE_GUILD, guild_id=GUILD_B)
    assert "Reindexed “Bakery Opens" in await result_of(server, token, "Reindexed", "Not reindexed")
    assert "Harbour" not in await listing(server, GUILD_B)
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?", guild_id=GUILD_ID))
    (only,) = await choices(server, "docs remove", GUILD_B)
    token = await server.slash(
        "docs remove",
        [{"name": "document", "type": 3, "value": only["value"]}],
        permissions=MANAGE_GUILD,
        guild_id=GUILD_B,
    )
    assert "the default library again" in await result_of(server, token, "Removed", "Not")
    # B is back on the default library; A never changed.
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?", guild_id=GUILD_B))
    assert "Mark Carney" in await listing(server, GUILD_ID)
    assert not bot.service.engine.library(GUILD_B).exists


async def test_members_without_manage_server_change_nothing(server: FakeDiscord, bot: CitebotBot) -> None:
    result = await add(server, GUILD_B, "harbour.txt", HARBOUR, permissions=0)
    assert result == "Only members with the Manage Server permission can do that."
    token = await server.slash("docs remove", [{"name": "document", "type": 3, "value": "abc"}], guild_id=GUILD_B)
    assert await result_of(server, token) == "Only members with the Manage Server permission can do that."
    assert not bot.service.engine.library(GUILD_B).exists
    assert "Harbour" not in await listing(server, GUILD_B)


async def test_dms_answer_from_the_default_library_only(server: FakeDiscord, bot: CitebotBot) -> None:
    await add(server, GUILD_ID, "bakery.txt", BAKERY)
    message_id = await server.mention("what does the bakery sell?", guild_id=None, mention_bot=False)
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id))
    assert "cardamom" not in descriptions(reply) and "doesn't answer that" in descriptions(reply)
    dm_ask = descriptions(await ask(server, "why did relations rupture?", guild_id=None))
    assert RUPTURE in dm_ask
    # /docs is declared for servers only; were it invoked from a DM anyway, it shows no server's documents.
    dm_list = await listing(server, None)
    assert "Bakery" not in dm_list and "Mark Carney" in dm_list


async def test_limits_refuse_an_add_and_leave_the_library_as_it_was(
    server: FakeDiscord, settings: Settings, make_engine
) -> None:
    limited = with_settings(settings, max_documents_per_server=1)
    async with running_bot(limited, make_engine(limited)):
        await add(server, GUILD_B, "harbour.txt", HARBOUR)
        refused = await add(server, GUILD_B, "bakery.txt", BAKERY)
        assert refused == (
            "Not added: A library holds at most 1 documents; remove one first. This server's library is unchanged."
        )
        b_list = await listing(server, GUILD_B)
        assert "Harbour Town" in b_list and "Bakery" not in b_list


async def test_a_build_in_one_server_does_not_delay_answers_in_another(server: FakeDiscord, bot: CitebotBot) -> None:
    lines = [
        f"Shipment {i} of turbine blades reached quay {i % 17} on day {i} after a long voyage." for i in range(1500)
    ]
    big = ("Shipments Log\n\n" + "\n\n".join(lines)).encode()
    options, resolved = server.attachment("big.txt", big)
    token = await server.slash("docs add", options, resolved=resolved, permissions=MANAGE_GUILD, guild_id=GUILD_B)
    await server.wait_for(lambda: "Embedding" in ((server.original(token) or {}).get("content") or ""), timeout=30)
    assert RUPTURE in descriptions(await ask(server, "why did relations rupture?", guild_id=GUILD_ID))
    answered_at = server.calls("POST", "/webhooks/")[-1].at
    await result_of(server, token, "Added", "Not added")
    added_at = next(r.at for r in server.calls("PATCH", "/webhooks/") if "Added" in (r.body or {}).get("content", ""))
    assert answered_at < added_at


async def test_a_library_is_deleted_when_the_bot_leaves_its_server(
    server: FakeDiscord, settings: Settings, make_engine
) -> None:
    at_once = with_settings(settings, delete_after_leave_days=0)
    async with running_bot(at_once, make_engine(at_once)) as bot:
        await add(server, GUILD_B, "harbour.txt", HARBOUR)
        library = at_once.index_dir / "servers" / str(GUILD_B)
        assert library.is_dir()
        await server.remove_from_guild(GUILD_B)
        for _ in range(200):
            if not library.exists():
                break
            await asyncio.sleep(0.05)
        assert not library.exists() and not bot.service.engine.library(GUILD_B).exists


async def test_an_article_added_by_url_is_quoted_with_a_link_to_the_sentence(
    server: FakeDiscord, settings: Settings, make_engine, site: str
) -> None:
    from ..web_site import LIVE, NEWS

    LIVE[0] = NEWS.replace(b"nine votes to four", b"ten votes to three")
    lan = with_settings(settings, allow_private_urls=True)
    async with running_bot(lan, make_engine(lan)):
        options = [{"name": "url", "type": 3, "value": f"{site}/live"}]
        token = await server.slash("docs add", options, permissions=MANAGE_GUILD, guild_id=GUILD_B)
        assert "Added “Harbour Town Votes to Lease Its Docks”" in await result_of(server, token, "Added", "Not added")
        assert f"{site}/live" in await listing(server, GUILD_B)
        answer = descriptions(await ask(server, "how many votes did the lease pass by?", guild_id=GUILD_B))
        assert "ten votes to three" in answer
        assert f"]({site}/live#:~:text=" in answer  # the citation opens the page at the quoted sentence
        LIVE[0] = NEWS  # the page changes; /reindex fetches it again
        token = await server.slash("reindex", [], permissions=MANAGE_GUILD, guild_id=GUILD_B)
        result = await result_of(server, token, "Reindexed", "Not reindexed")
        assert "Pages fetched again that changed:" in result and f"{site}/live" in result
        answer = descriptions(await ask(server, "how many votes did the lease pass by?", guild_id=GUILD_B))
        assert "nine votes to four" in answer
        refused = [{"name": "url", "type": 3, "value": f"{site}/to-metadata"}]
        token = await server.slash("docs add", refused, permissions=MANAGE_GUILD, guild_id=GUILD_B)
        text = await result_of(server, token, "Added", "Not added")
        assert "Not added:" in text and "cloud metadata address" in text
    safe = with_settings(settings)  # ALLOW_PRIVATE_URLS off: the loopback site is refused
    async with running_bot(safe, make_engine(safe)):
        options = [{"name": "url", "type": 3, "value": f"{site}/news"}]
        token = await server.slash("docs add", options, permissions=MANAGE_GUILD, guild_id=GUILD_ID)
        text = await result_of(server, token, "Added", "Not added")
        assert "private or local address (127.0.0.1); refused" in text

"""Conversation on the loopback Discord: summaries, follow-ups and threads, the buttons under an
answer, "Ask citebot" on a message, /insights, and the opt-in ask channel and forum."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from citebot.bot import messages
from citebot.bot.client import CitebotBot
from citebot.bot.settings import Settings

from .conftest import running_bot, with_settings
from .fake_discord import ASK_CHANNEL, CHANNEL_ID, FORUM_ID, MANAGE_GUILD, FakeDiscord, member_message
from .helpers import RUPTURE, ask, descriptions, replies_to

CUSTOM_ID = re.compile(r"^citebot:(p:[0-9a-f]+:\d+:\d+|v:(up|down))$")


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row["components"]]


def button(message: dict[str, Any], label_or_emoji: str) -> dict[str, Any]:
    for b in buttons(message):
        if b.get("label") == label_or_emoji or (b.get("emoji") or {}).get("name") == label_or_emoji:
            return b
    raise AssertionError(f"no button {label_or_emoji!r} in {buttons(message)}")


async def callback(server: FakeDiscord, token: str) -> dict[str, Any]:
    """The bot's immediate response (callback type 4) to an interaction."""
    interaction_id = token.removeprefix("itoken-")
    calls = await server.wait_for(lambda: server.calls("POST", f"/interactions/{interaction_id}/"))
    return calls[0].body


# ---- summaries ---------------------------------------------------------------------------------
async def test_what_is_this_about_gets_the_summary_in_the_documents_words(server: FakeDiscord, bot: CitebotBot) -> None:
    message_id = await server.mention("<@4242> what is this article about?")
    (reply,) = await server.wait_for(lambda: replies_to(server, message_id), timeout=30)
    text = descriptions(reply)
    assert messages.SUMMARY_HEADING in text
    assert "*standfirst*" in text and "*¶1*" in text and "Prime Minister Mark Carney of Canada will arrive" in text
    assert "doesn't answer" not in text

    token = await server.slash("summary")
    (followup,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    assert descriptions(followup) == text  # /summary quotes the same sentences


# ---- buttons ------------------------------------------------------------------------------------
async def test_answers_carry_persistent_buttons_that_show_the_paragraph(
    server: FakeDiscord, settings: Settings, make_engine
) -> None:
    async with running_bot(settings, make_engine(settings)):
        answer = await ask(server, "why did relations rupture?")
        ids = [b["custom_id"] for b in buttons(answer)]
        assert ids and all(CUSTOM_ID.match(i) and len(i) <= 100 for i in ids)
        assert {"citebot:v:up", "citebot:v:down"} <= set(ids)
        show = button(answer, "Show ¶3")
    # A new process: nothing of the first one is in memory; the click still works.
    async with running_bot(settings, make_engine(settings)):
        token = await server.click(answer, show["custom_id"])
        response = await callback(server, token)
    assert response["type"] == 4 and response["data"]["flags"] & 64  # only the one who clicked sees it
    (embed,) = response["data"]["embeds"]
    assert embed["description"].startswith("**Diplomatic relations between the two nations ruptured in 2018")
    assert "The Canadians were held under often harsh conditions" in embed["description"]
    assert embed["footer"]["text"] == "¶3"


async def test_votes_count_once_per_member_and_a_second_click_changes_it(server: FakeDiscord, bot: CitebotBot) -> None:
    answer = await ask(server, "why did relations rupture?")
    up, down = button(answer, "👍")["custom_id"], button(answer, "👎")["custom_id"]
    first = await callback(server, await server.click(answer, up, user_id=700))
    assert first["data"]["content"] == messages.VOTE_THANKS[1] and first["data"]["flags"] & 64
    changed = await callback(server, await server.click(answer, down, user_id=700))
    assert changed["data"]["content"] == messages.VOTE_CHANGED[-1]
    from_bot = await callback(server, await server.click(answer, down, user_id=701, bot_user=True))
    assert from_bot["data"]["content"] == messages.BOTS_DO_NOT_VOTE
    await callback(server, await server.click(answer, down, user_id=702))
    report = await insights(server)
    (rated,) = [f for f in report["fields"] if f["name"] == "Answers rated 👎"]
    assert rated["value"] == "👎 2 · 👍 0 — why did relations rupture?"  # 700 changed to 👎, 702 👎, the bot not at all


async def test_abstentions_have_no_buttons(server: FakeDiscord, bot: CitebotBot) -> None:
    answer = await ask(server, "What is the capital of Australia?")
    assert "doesn't answer" in descriptions(answer) and not buttons(answer)


# ---- follow-ups ---------------------------------------------------------------------------------
async def test_a_reply_to_an_answer_is_read_with_that_exchange(server: FakeDiscord, bot: CitebotBot) -> None:
    first_id = await server.mention("<@4242> why did relations rupture?")
    (answer,) = await server.wait_for(lambda: replies_to(server, first_id), timeout=30)
    follow_id = await server.mention("and the executive?", reply_to=answer)  # a reply pings the bot
    (reply,) = await server.wait_for(lambda: replies_to(server, follow_id), timeout=30)
    assert "two large houses in Vancouver" in descriptions(reply)
    # In a DM too: a reply to the bot's answer goes on from it.
    dm_first = await server.mention("who did china detain?", guild_id=None, mention_bot=False)
    (dm_answer,) = await server.wait_for(lambda: replies_to(server, dm_first), timeout=30)
    dm_follow = await server.mention("why?", guild_id=None, mention_bot=False, reply_to=dm_answer)
    (dm_reply,) = await server.wait_for(lambda: replies_to(server, dm_follow), timeout=30)
    assert "after Canada arrested a Chinese business executive" in descriptions(dm_reply)
    # The same words with no exchange before them are not enough to answer.
    alone_id = await server.mention("<@4242> when?")
    (alone,) = await server.wait_for(lambda: replies_to(server, alone_id), timeout=30)
    assert "doesn't answer" in descriptions(alone)


async def test_ask_in_a_thread_and_go_on_asking_there(server: FakeDiscord, bot: CitebotBot) -> None:
    token = await server.slash(
        "ask",
        [
            {"name": "question", "type": 3, "value": "are the tariffs being negotiated?"},
            {"name": "thread", "type": 5, "value": True},
        ],
    )
    (answer,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    (started,) = await server.wait_for(lambda: server.calls("POST", f"/channels/{CHANNEL_ID}/messages/"))
    assert started.path == f"/channels/{CHANNEL_ID}/messages/{answer['id']}/threads"
    assert started.body["name"] == "are the tariffs being negotiated?"
    thread_id = answer["id"]  # a thread started from a message takes its id
    await server.wait_for(lambda: bot.get_channel(int(thread_id)) is not None)
    # Without the Message Content intent Discord sends no text for a message that does not mention
    # the bot: it is left alone. With text (the intent on, or a reply to the bot) it is a follow-up.
    await server.mention("", mention_bot=False, channel_id=int(thread_id))
    asked = await server.mention("who said that?", mention_bot=False, channel_id=int(thread_id))
    (reply,) = await server.wait_for(lambda: replies_to(server, asked), timeout=30)
    assert "two officials briefed on the talks said" in descriptions(reply)
    assert len(server.in_channel(thread_id)) == 1
    again = await server.mention("why did they stay anonymous?", mention_bot=False, channel_id=int(thread_id))
    (second,) = await server.wait_for(lambda: replies_to(server, again), timeout=30)
    assert "not authorized to publicly discuss the talks" in descriptions(second)


async def test_a_member_thread_from_an_answer_goes_on_from_it(server: FakeDiscord, bot: CitebotBot) -> None:
    first_id = await server.mention("<@4242> who will carney meet in beijing?")
    (answer,) = await server.wait_for(lambda: replies_to(server, first_id), timeout=30)
    thread_id = await server.member_starts_thread(answer["id"], "carney's visit")
    await server.wait_for(lambda: bot.get_channel(int(thread_id)) is not None)
    asked = await server.mention("<@4242> for how long?", channel_id=int(thread_id))
    (reply,) = await server.wait_for(lambda: replies_to(server, asked), timeout=30)
    assert "three-day state visit" in descriptions(reply)


# ---- Ask citebot on a message ----------------------------------------------------------------------
async def test_ask_citebot_on_a_message_replies_to_it(server: FakeDiscord, bot: CitebotBot) -> None:
    target = member_message(
        "777001", CHANNEL_ID, "does anyone know why relations between canada and china broke down?", author_id=556
    )
    token = await server.message_command("Ask citebot", target)
    (reply,) = await server.wait_for(lambda: replies_to(server, "777001"), timeout=30)
    assert RUPTURE in descriptions(reply) and buttons(reply)
    (note,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    assert note["content"] == messages.ANSWERED_IN_REPLY and note["flags"] & 64
    # Where the bot may not post, the answer goes to the member who asked, privately.
    server.forbidden.add(f"/channels/{CHANNEL_ID}/messages")
    private = await server.message_command("Ask citebot", {**target, "id": "777003"})
    (answer,) = await server.wait_for(lambda: server.followups(private), timeout=30)
    assert RUPTURE in descriptions(answer) and answer["flags"] & 64
    assert not replies_to(server, "777003")
    empty = await server.message_command("Ask citebot", {**target, "id": "777002", "content": "👍"})
    response = await callback(server, empty)
    assert response["data"]["content"] == messages.NO_QUESTION_IN_MESSAGE and response["data"]["flags"] & 64


# ---- /insights ------------------------------------------------------------------------------------
async def insights(server: FakeDiscord, *options: dict[str, Any], permissions: int = MANAGE_GUILD) -> dict[str, Any]:
    token = await server.slash("insights show", list(options), permissions=permissions)
    (followup,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    (embed,) = followup["embeds"]
    return embed


async def test_insights_counts_questions_and_groups_the_unanswered_ones(server: FakeDiscord, bot: CitebotBot) -> None:
    for question in (
        "why did relations rupture?",
        "what is the capital of australia?",
        "What is the capital of Australia",
        "whats the capital of australia?",
        "who won the world cup?",
    ):
        await ask(server, question)
    report = await insights(server)
    assert report["title"] == "Questions in the last 7 days"
    assert report["description"].startswith("**5** asked · **20%** answered (1)")
    (unanswered,) = [f for f in report["fields"] if f["name"] == "Most asked, not answered"]
    lines = unanswered["value"].splitlines()
    assert lines[0].startswith("3× ") and "capital of australia" in lines[0].lower()
    assert lines[1] == "1× who won the world cup?"
    assert "salted hashes" in report["footer"]["text"]
    month = await insights(server, {"name": "days", "type": 4, "value": 30})
    assert month["title"] == "Questions in the last 30 days"
    # Another server sees none of it.
    token = await server.slash("insights show", [], permissions=MANAGE_GUILD, guild_id=1001)
    (other,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    assert other["embeds"][0]["description"] == messages.INSIGHTS_NONE


async def test_insights_is_for_admins_and_forget_deletes_everything(server: FakeDiscord, bot: CitebotBot) -> None:
    await ask(server, "why did relations rupture?")
    token = await server.slash("insights show", [], permissions=0)
    response = await callback(server, token)
    assert response["data"]["content"].endswith(messages.NEEDS_MANAGE_SERVER)
    # Forgetting asks first; "Cancel" forgets nothing.
    token = await server.slash("insights forget", [], permissions=MANAGE_GUILD)
    asked = await callback(server, token)
    assert asked["data"]["content"] == messages.FORGET_CONFIRM and asked["data"]["flags"] & 64
    shown = server.original(token)
    assert shown is not None
    buttons = {b["label"]: b["custom_id"] for row in shown["components"] for b in row["components"]}
    assert set(buttons) == {"Forget everything", "Cancel"}
    cancelled = await callback(server, await server.click(shown, buttons["Cancel"]))
    assert cancelled["type"] == 7 and cancelled["data"]["content"] == messages.FORGET_CANCELLED
    assert cancelled["data"]["components"] == []
    assert (await insights(server))["description"] != messages.INSIGHTS_NONE
    # Confirmed, everything of this server goes.
    token = await server.slash("insights forget", [], permissions=MANAGE_GUILD)
    await callback(server, token)
    shown = server.original(token)
    assert shown is not None
    buttons = {b["label"]: b["custom_id"] for row in shown["components"] for b in row["components"]}
    click = await server.click(shown, buttons["Forget everything"])
    done = await server.wait_for(lambda: server.original(click), timeout=30)
    assert done["content"].startswith("Forgotten:") and done["components"] == []
    assert (await insights(server))["description"] == messages.INSIGHTS_NONE


# ---- ask channel, forums, intents ---------------------------------------------------------------------
def ask_channel_option(channel_id: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    resolved = {
        "channels": {
            str(channel_id): {"id": str(channel_id), "type": 0, "name": "questions", "permissions": "0"},
        }
    }
    return [{"name": "channel", "type": 7, "value": str(channel_id)}], resolved


async def test_ask_channel_needs_the_message_content_intent(server: FakeDiscord, bot: CitebotBot) -> None:
    assert not server.identify_intents & (1 << 15)  # not asked for by default
    options, resolved = ask_channel_option(ASK_CHANNEL)
    token = await server.slash("config ask-channel", options, resolved=resolved, permissions=MANAGE_GUILD)
    response = await callback(server, token)
    assert response["data"]["content"] == messages.NEEDS_MESSAGE_CONTENT
    await server.mention("why did relations rupture?", mention_bot=False, channel_id=ASK_CHANNEL)
    await asyncio.sleep(0.5)
    assert not server.in_channel(ASK_CHANNEL)


@pytest.fixture
async def reading_bot(server: FakeDiscord, settings: Settings, make_engine):
    reading = with_settings(settings, message_content_intent=True)
    async with running_bot(reading, make_engine(reading)) as running:
        yield running


async def test_every_message_in_the_ask_channel_is_answered(server: FakeDiscord, reading_bot: CitebotBot) -> None:
    assert server.identify_intents & (1 << 15)
    options, resolved = ask_channel_option(ASK_CHANNEL)
    token = await server.slash("config ask-channel", options, resolved=resolved, permissions=MANAGE_GUILD)
    response = await callback(server, token)
    assert response["data"]["content"] == messages.ask_channel_set(f"<#{ASK_CHANNEL}>")
    asked = await server.mention("why did relations rupture?", mention_bot=False, channel_id=ASK_CHANNEL)
    (reply,) = await server.wait_for(lambda: replies_to(server, asked), timeout=30)
    assert RUPTURE in descriptions(reply)
    # Elsewhere, messages that do not mention the bot are still left alone.
    await server.mention("why did relations rupture?", mention_bot=False, channel_id=CHANNEL_ID)
    await asyncio.sleep(0.5)
    assert not server.in_channel(CHANNEL_ID)
    token = await server.slash("config ask-channel", [], permissions=MANAGE_GUILD)
    assert (await callback(server, token))["data"]["content"] == messages.ASK_CHANNEL_CLEARED


async def test_new_forum_posts_are_answered_in_their_thread(server: FakeDiscord, reading_bot: CitebotBot) -> None:
    resolved = {"channels": {str(FORUM_ID): {"id": str(FORUM_ID), "type": 15, "name": "help", "permissions": "0"}}}
    token = await server.slash(
        "config forum",
        [{"name": "channel", "type": 7, "value": str(FORUM_ID)}],
        resolved=resolved,
        permissions=MANAGE_GUILD,
    )
    assert (await callback(server, token))["data"]["content"] == messages.forum_set(f"<#{FORUM_ID}>", True)
    post = await server.forum_post("Why did relations rupture?", "I keep reading about 2018 but what happened?")
    (answer,) = await server.wait_for(lambda: server.in_channel(post), timeout=30)
    assert RUPTURE in descriptions(answer)
    await asyncio.sleep(0.3)
    assert len(server.in_channel(post)) == 1  # the post's first message is not answered a second time


async def test_a_missing_intent_at_start_names_the_switch(
    settings: Settings, make_engine, caplog: pytest.LogCaptureFixture
) -> None:
    from citebot.bot.client import EXIT_INTENTS, serve

    refusing = FakeDiscord(close_code_on_identify=4014)
    await refusing.start()
    try:
        reading = with_settings(
            settings,
            message_content_intent=True,
            discord_api_base=refusing.api_base,
            discord_gateway_url=refusing.gateway_url,
        )
        assert await asyncio.wait_for(serve(reading), 30) == EXIT_INTENTS
    finally:
        await refusing.stop()
    assert "Message Content Intent" in caplog.text and "MESSAGE_CONTENT_INTENT=false" in caplog.text


async def test_an_unanswered_forget_confirmation_expires_and_forgets_nothing(
    server: FakeDiscord, bot: CitebotBot, monkeypatch
) -> None:
    from citebot.bot.cogs import insights as insights_cog

    monkeypatch.setattr(insights_cog, "CONFIRM_SECONDS", 0.5)
    await ask(server, "why did relations rupture?")
    token = await server.slash("insights forget", [], permissions=MANAGE_GUILD)
    await callback(server, token)
    expired = await server.wait_for(
        lambda: (m := server.original(token)) and m["content"] == messages.FORGET_EXPIRED and m, timeout=10
    )
    assert expired["components"] == []
    assert (await insights(server))["description"] != messages.INSIGHTS_NONE

"""The buttons under an answer: "Show ¶n" and 👍/👎.

They are persistent: everything a click needs is in its custom id (the document's key, the paragraph,
the sentence; or the vote), and the bot registers these button kinds at start, so a click on an
answer sent before a restart still works. Nothing about them is held in memory.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol, cast

import discord

from citebot.index.answer import Answer

from . import messages
from .conversations import ConversationService
from .messages import reply_for_error
from .render import render_notice, render_paragraph
from .seen import SeenEvents
from .service import AnswerService

log = logging.getLogger(__name__)

# Discord allows 5 buttons in a row: up to 5 "Show ¶n" in the first row, the votes in the second.
MAX_PARAGRAPH_BUTTONS = 5
CUSTOM_ID_LIMIT = 100


class ButtonHost(Protocol):
    """What a click needs of the bot (the client that received it); no import of the client."""

    service: AnswerService
    conversations: ConversationService
    seen: SeenEvents


class ShowParagraph(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"citebot:p:(?P<key>[0-9a-f]{1,40}):(?P<paragraph>\d{1,7}):(?P<ordinal>\d{1,5})",
):
    """Shows the whole paragraph of a quote, the quoted sentence in bold, to the one who clicked."""

    def __init__(self, key: str, paragraph: int, ordinal: int, label: str = "Show paragraph", row: int = 0) -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80],
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:p:{key}:{paragraph}:{ordinal}",
                row=row,
            )
        )
        self.key, self.paragraph, self.ordinal = key, paragraph, ordinal

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ShowParagraph:
        return cls(match["key"], int(match["paragraph"]), int(match["ordinal"]))

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return _first_time(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = cast(ButtonHost, interaction.client)
        try:
            library = await bot.service.answering(interaction.guild_id)
            found = await bot.service.paragraph(library, self.key, self.paragraph)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            await interaction.response.send_message(render_notice(reply_for_error(exc)), ephemeral=True)
            return
        if found is None:
            await interaction.response.send_message(messages.PARAGRAPH_GONE, ephemeral=True)
            return
        await interaction.response.send_message(embed=render_paragraph(found, self.ordinal), ephemeral=True)


class Vote(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"citebot:v:(?P<vote>up|down)"):
    """👍/👎 on an answer: one vote per member per answer; a second click changes it."""

    def __init__(self, up: bool, row: int = 1) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if up else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:v:{'up' if up else 'down'}",
                row=row,
            )
        )
        self.up = up

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Vote:
        return cls(match["vote"] == "up")

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return _first_time(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        if interaction.user.bot:
            await interaction.response.send_message(messages.BOTS_DO_NOT_VOTE, ephemeral=True)
            return
        bot = cast(ButtonHost, interaction.client)
        vote = 1 if self.up else -1
        assert interaction.message is not None  # a button click always comes with its message
        try:
            changed = await bot.conversations.vote(
                message_id=interaction.message.id,
                server_id=interaction.guild_id,
                member_id=interaction.user.id,
                vote=vote,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            await interaction.response.send_message(render_notice(reply_for_error(exc)), ephemeral=True)
            return
        thanks = messages.VOTE_CHANGED[vote] if changed else messages.VOTE_THANKS[vote]
        await interaction.response.send_message(thanks, ephemeral=True)


def _first_time(interaction: discord.Interaction) -> bool:
    bot = cast(ButtonHost, interaction.client)
    if bot.seen.first_time(interaction.id):
        return True
    log.info("Interaction %s delivered again; already handled.", interaction.id)
    return False


def answer_view(answer: Answer) -> discord.ui.View | None:
    """The buttons for an answer: one "Show ¶n" per quoted paragraph, then 👍 and 👎. None for an
    abstention (nothing to show or rate)."""
    if answer.abstained or not answer.citations:
        return None
    view = discord.ui.View(timeout=None)
    shown: set[tuple[str, int]] = set()
    for citation in answer.citations:
        where = (citation.key, citation.paragraph_index)
        if not citation.key or citation.paragraph_index < 0 or where in shown or len(shown) >= MAX_PARAGRAPH_BUTTONS:
            continue
        shown.add(where)
        label = messages.SHOW_PARAGRAPH.format(label=citation.label)
        view.add_item(ShowParagraph(citation.key, citation.paragraph_index, citation.ordinal, label))
    view.add_item(Vote(up=True))
    view.add_item(Vote(up=False))
    return view


def persistent_items() -> tuple[type[discord.ui.DynamicItem[Any]], ...]:
    """The button kinds the bot registers at start, so clicks on older answers still work."""
    return (ShowParagraph, Vote)

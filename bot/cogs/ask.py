"""Asking: /ask and @mentions. Translates Discord input into questions to this server's library."""

from __future__ import annotations

import contextlib
import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from .. import messages
from ..cooldown import Cooldown
from ..delivery import deliver
from ..messages import Context, reply_for_error
from ..render import render_answer, render_notice
from ..seen import SeenEvents
from ..service import AnswerService
from .choices import document_choices

log = logging.getLogger(__name__)

_BOT_MENTION = "<@!?{id}>"


class AskCog(commands.Cog):
    """Answers questions from /ask and from messages that mention the bot (and DMs)."""

    def __init__(self, bot: commands.Bot, service: AnswerService, cooldown: Cooldown, seen: SeenEvents) -> None:
        self.bot = bot
        self.service = service
        self.cooldown = cooldown
        self.seen = seen

    @app_commands.command(name="ask", description="Ask about this server's documents; I answer with cited quotes.")
    @app_commands.describe(
        question="Your question", document="Only answer from this document", private="Only you see the answer"
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 1000],
        document: str | None = None,
        private: bool = False,
    ) -> None:
        if not self.service.accepting:
            await interaction.response.send_message(messages.RESTARTING, ephemeral=True)
            return
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(messages.cooldown(wait), ephemeral=True)
            return
        async with self.service.work():  # from here on, a stop waits for this answer to be sent
            await interaction.response.defer(ephemeral=private, thinking=True)
            try:
                answer = await self.service.answer(question, server_id=interaction.guild_id, document=document or None)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                notice = render_notice(reply_for_error(exc, Context.ANSWER))
                await deliver(lambda: interaction.followup.send(notice, ephemeral=True), what="a notice")
                return
            embed = render_answer(answer)
            await deliver(lambda: interaction.followup.send(embed=embed, ephemeral=private), what="an answer")

    @ask.autocomplete("document")
    async def ask_document(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        summary = await self.service.summary(interaction.guild_id)
        return document_choices(summary.documents, current)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if not self.seen.first_time(message.id):
            log.info("Message %s delivered again; already handled.", message.id)
            return
        is_dm = isinstance(message.channel, discord.DMChannel) or message.guild is None
        if not is_dm and me not in message.mentions:
            return
        question = re.sub(_BOT_MENTION.format(id=me.id), " ", message.content).strip()
        if not any(ch.isalnum() for ch in question):
            await message.reply(render_notice(messages.ask_prompt(me.name)), mention_author=False)
            return
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            if self.cooldown.first_warning(message.author.id):
                await message.reply(render_notice(messages.cooldown(wait)), mention_author=False)
            return
        if not self.service.accepting:
            await message.reply(messages.RESTARTING, mention_author=False)
            return
        server_id = message.guild.id if message.guild is not None else None
        async with self.service.work():  # from here on, a stop waits for this answer to be sent
            try:
                with contextlib.suppress(discord.HTTPException):  # typing is a courtesy; the answer is not
                    await message.channel.typing()
                answer = await self.service.answer(question, server_id=server_id)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                notice = render_notice(reply_for_error(exc, Context.ANSWER))
                await deliver(lambda: message.reply(notice, mention_author=False), what="a notice")
                return
            embed = render_answer(answer)
            await deliver(lambda: message.reply(embed=embed, mention_author=False), what="an answer")

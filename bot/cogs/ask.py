"""Asking: the /ask command and @mentions. Translates Discord input into engine questions."""

from __future__ import annotations

import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import CitebotError, QuestionRejected

from ..cooldown import Cooldown
from ..render import render_answer, render_notice
from ..service import AnswerService

log = logging.getLogger("citebot.ask")

EXAMPLE = "why did relations rupture?"
_BOT_MENTION = "<@!?{id}>"


def cooldown_message(seconds: float) -> str:
    return f"You're asking quickly — try again in {max(1, round(seconds))} s."


class AskCog(commands.Cog):
    """Answers questions from /ask and from messages that mention the bot."""

    def __init__(self, bot: commands.Bot, service: AnswerService, cooldown: Cooldown) -> None:
        self.bot = bot
        self.service = service
        self.cooldown = cooldown

    @app_commands.command(name="ask", description="Ask about the article; I answer with cited quotes.")
    @app_commands.describe(question="Your question about the article", private="Only you see the answer")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 1000],
                  private: bool = False) -> None:
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(cooldown_message(wait), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=private, thinking=True)
        try:
            answer = await self.service.answer(question)
        except QuestionRejected as exc:
            await interaction.followup.send(render_notice(str(exc)), ephemeral=True)
            return
        await interaction.followup.send(embed=render_answer(answer), ephemeral=private)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        is_dm = isinstance(message.channel, discord.DMChannel)
        if not is_dm and me not in message.mentions:
            return
        question = re.sub(_BOT_MENTION.format(id=me.id), " ", message.content).strip()
        if not any(ch.isalnum() for ch in question):
            await message.reply(render_notice(f"Ask me something about the article, e.g. “@{me.name} {EXAMPLE}”"),
                                mention_author=False)
            return
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            if self.cooldown.first_warning(message.author.id):
                await message.reply(render_notice(cooldown_message(wait)), mention_author=False)
            return
        try:
            async with message.channel.typing():
                answer = await self.service.answer(question)
        except QuestionRejected as exc:
            await message.reply(render_notice(str(exc)), mention_author=False)
            return
        except CitebotError as exc:
            log.warning("Could not answer %r: %s", question[:80], exc)
            await message.reply(render_notice(f"Sorry, I can't answer right now: {exc}"), mention_author=False)
            return
        except Exception:
            log.exception("Answering a mention failed")
            await message.reply(render_notice("Sorry, something went wrong while answering. It has been logged."),
                                mention_author=False)
            return
        await message.reply(embed=render_answer(answer), mention_author=False)

"""/about: what the bot knows in this server, and how to ask it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from ..messages import reply_for_error
from ..render import render_about, render_notice
from ..service import AnswerService


class AboutCog(commands.Cog):
    def __init__(self, service: AnswerService) -> None:
        self.service = service

    @app_commands.command(name="about", description="What documents I know here, and how to ask me about them.")
    async def about(self, interaction: discord.Interaction) -> None:
        try:
            summary = await self.service.summary(interaction.guild_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            await interaction.response.send_message(render_notice(reply_for_error(exc)), ephemeral=True)
            return
        await interaction.response.send_message(embed=render_about(summary), ephemeral=True)

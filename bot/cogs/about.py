"""/about: what the bot knows in this server, and how to ask it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from ..render import render_about
from ..service import AnswerService


class AboutCog(commands.Cog):
    def __init__(self, service: AnswerService) -> None:
        self.service = service

    @app_commands.command(name="about", description="What documents I know here, and how to ask me about them.")
    async def about(self, interaction: discord.Interaction) -> None:
        library = await self.service.answering(interaction.guild_id)
        await interaction.response.send_message(
            embed=render_about(await self.service.describe(library)), ephemeral=True
        )

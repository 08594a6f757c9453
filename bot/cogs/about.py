"""/about: what the bot knows and how to ask it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from ..render import render_about
from ..service import AnswerService


class AboutCog(commands.Cog):
    def __init__(self, service: AnswerService) -> None:
        self.service = service

    @app_commands.command(name="about", description="What document I know, and how to ask me about it.")
    async def about(self, interaction: discord.Interaction) -> None:
        stored = self.service.engine.loaded
        if stored is None:
            await interaction.response.send_message("My index is still loading; try again in a moment.", ephemeral=True)
            return
        manifest = stored.manifest
        meta = stored.documents[0].meta if stored.documents else None
        embed = render_about(
            meta, paragraphs=manifest.counts.get("body_paragraphs", 0), sentences=manifest.counts.get("sentences", 0),
            model=manifest.model, built_at=manifest.built_at, index_type=manifest.index_type,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

"""/insights: for admins, what members asked here and what they could not get answered; and forgetting it."""

from __future__ import annotations

import time
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from .. import messages
from ..conversations import DAY, ConversationService
from ..insights import build_report
from ..render import render_insights


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class InsightsCog(
    commands.GroupCog, group_name="insights", group_description="What members asked here, and what went unanswered."
):
    def __init__(self, conversations: ConversationService) -> None:
        super().__init__()
        self.conversations = conversations

    @app_commands.command(name="show", description="Questions asked, share answered, unanswered questions, 👎 answers.")
    @app_commands.describe(days="The last 7 days (default) or the last 30")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def show(self, interaction: discord.Interaction, days: Literal[7, 30] = 7) -> None:
        assert interaction.guild_id is not None  # guild_only
        await interaction.response.defer(ephemeral=True, thinking=True)
        asked = await self.conversations.asked_since(interaction.guild_id, time.time() - days * DAY)
        report = build_report(asked, days)
        await interaction.followup.send(embed=render_insights(report, self.conversations.keep_days), ephemeral=True)

    @app_commands.command(
        name="forget", description="Delete every stored question, answer record and vote of this server now."
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def forget(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        await interaction.response.defer(ephemeral=True, thinking=True)
        rows = await self.conversations.forget_server(interaction.guild_id)
        await interaction.followup.send(messages.forgotten(rows) if rows else messages.FORGOTTEN_NONE, ephemeral=True)

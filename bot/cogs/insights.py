"""/insights: for admins, what members asked here and what they could not get answered; and forgetting it."""

from __future__ import annotations

import contextlib
import time
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from .. import messages
from ..conversation_store import DAY
from ..conversations import ConversationService
from ..insights_report import build_report
from ..render import render_insights

CONFIRM_SECONDS = 120.0  # how long /insights forget waits for its confirmation


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
        view = ForgetConfirmation(self.conversations, interaction)
        await interaction.response.send_message(messages.FORGET_CONFIRM, view=view, ephemeral=True)


class ForgetConfirmation(discord.ui.View):
    """Asks the admin who ran /insights forget to confirm: nothing brings the records back."""

    def __init__(self, conversations: ConversationService, asked: discord.Interaction) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.conversations = conversations
        self.asked = asked

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.asked.user.id

    @discord.ui.button(label="Forget everything", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, _button: discord.ui.Button[ForgetConfirmation]) -> None:
        self.stop()
        assert self.asked.guild_id is not None  # /insights is guild_only
        await interaction.response.defer()
        rows = await self.conversations.forget_server(self.asked.guild_id)
        done = messages.forgotten(rows) if rows else messages.FORGOTTEN_NONE
        await interaction.edit_original_response(content=done, view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _button: discord.ui.Button[ForgetConfirmation]) -> None:
        self.stop()
        await interaction.response.edit_message(content=messages.FORGET_CANCELLED, view=None)

    async def on_timeout(self) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.asked.edit_original_response(content=messages.FORGET_EXPIRED, view=None)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, _item: discord.ui.Item[ForgetConfirmation]
    ) -> None:
        reply = messages.reply_for_error(error)  # logs the unexpected, with its traceback
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.edit_original_response(content=reply, view=None)
            else:
                await interaction.response.edit_message(content=reply, view=None)

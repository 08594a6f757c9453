"""/config: per-server opt-ins that make the bot read messages that do not mention it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from .. import messages
from ..conversations import ConversationService
from ..render import render_config


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ConfigCog(commands.GroupCog, group_name="config", group_description="Where I answer without being asked."):
    """An ask channel and forums read every message, which needs the Message Content intent; without
    it, the admin is told what to enable instead of a setting that would silently do nothing."""

    def __init__(self, conversations: ConversationService, message_content: bool) -> None:
        super().__init__()
        self.conversations = conversations
        self.message_content = message_content

    @app_commands.command(name="ask-channel", description="A channel where every message is a question for me.")
    @app_commands.describe(channel="The channel (leave empty to have none)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def ask_channel(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        assert interaction.guild_id is not None  # guild_only
        if channel is not None and not self.message_content:
            await interaction.response.send_message(messages.NEEDS_MESSAGE_CONTENT, ephemeral=True)
            return
        await self.conversations.set_ask_channel(interaction.guild_id, channel.id if channel else None)
        text = messages.ask_channel_set(channel.mention) if channel else messages.ASK_CHANNEL_CLEARED
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="forum", description="Answer each new post of a forum channel, in its thread.")
    @app_commands.describe(channel="The forum channel", enabled="Answer its new posts (default) or stop")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def forum(
        self, interaction: discord.Interaction, channel: discord.ForumChannel, enabled: bool = True
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        if enabled and not self.message_content:
            await interaction.response.send_message(messages.NEEDS_MESSAGE_CONTENT, ephemeral=True)
            return
        await self.conversations.set_forum(interaction.guild_id, channel.id, enabled)
        await interaction.response.send_message(messages.forum_set(channel.mention, enabled), ephemeral=True)

    @app_commands.command(name="show", description="Where I answer in this server.")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        config = await self.conversations.config(interaction.guild_id)
        await interaction.response.send_message(embed=render_config(config, self.message_content), ephemeral=True)

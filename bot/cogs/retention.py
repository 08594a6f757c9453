"""Leaving a server: its library is deleted DELETE_AFTER_LEAVE_DAYS after the bot was removed, with
its stored questions and settings; and questions older than KEEP_QUESTIONS_DAYS are deleted daily."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord
from discord.ext import commands, tasks

from citebot.index.departures import Departures

from ..conversations import ConversationService
from ..service import AnswerService

log = logging.getLogger(__name__)


class RetentionCog(commands.Cog):
    """Records departures and returns, and deletes libraries that are due, at start-up and daily."""

    def __init__(
        self,
        bot: commands.Bot,
        service: AnswerService,
        conversations: ConversationService,
        departures: Departures,
        keep_days: float,
        owns: Callable[[int], bool] = lambda _server: True,
    ) -> None:
        self.bot = bot
        self.service = service
        self.conversations = conversations
        self.departures = departures
        self.keep_days = keep_days
        self.owns = owns  # in a fleet, other processes' shards carry the other servers

    async def cog_load(self) -> None:
        self.daily.start()

    async def cog_unload(self) -> None:
        self.daily.cancel()

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        log.info("Removed from server %s; its library is kept for %g days.", guild.id, self.keep_days)
        self.departures.left(guild.id)
        await self.delete_due()

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.departures.returned(guild.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Servers that removed the bot while it was offline start their clock now."""
        present = {g.id for g in self.bot.guilds}
        for server_id in await asyncio.to_thread(self.service.engine.server_libraries):
            if not self.owns(server_id):
                continue
            if server_id in present:
                self.departures.returned(server_id)
            else:
                self.departures.left(server_id)
        await self.delete_due()

    @tasks.loop(hours=24)
    async def daily(self) -> None:
        await self.delete_due()
        try:
            purged = await self.conversations.purge()
        except Exception:
            log.exception("Could not delete old questions")
            return
        if purged:
            log.info("Deleted %d stored questions and votes older than %g days.", purged, self.conversations.keep_days)

    @daily.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def delete_due(self) -> None:
        for server_id in self.departures.due(self.keep_days):
            try:
                deleted = await self.service.forget_server(server_id)
            except Exception:
                log.exception("Could not delete the library of server %s", server_id)
                continue
            self.departures.forget(server_id)
            try:
                await self.conversations.forget_server(server_id, settings_too=True)
            except Exception:
                log.exception("Could not delete the stored questions of server %s", server_id)
            if deleted:
                log.info("Deleted the library of server %s (left %g+ days ago).", server_id, self.keep_days)

"""What /reindex and /docs share: refusing a build that cannot start, and its progress in the reply."""

from __future__ import annotations

import asyncio
import logging

import discord

from . import messages
from .render import render_notice
from .service import AnswerService

log = logging.getLogger(__name__)

STAGE_TEXT = {"parsing": messages.PARSING, "relating": messages.RELATING, "writing": messages.WRITING}


async def refuse_if_busy(interaction: discord.Interaction, service: AnswerService) -> bool:
    """Answer at once, and True, when no build can start for this server now (stopping, or one running)."""
    if not service.accepting:
        await interaction.response.send_message(messages.RESTARTING, ephemeral=True)
        return True
    if service.is_building(service.library(interaction.guild_id)):
        await interaction.response.send_message(messages.BUILD_BUSY, ephemeral=True)
        return True
    return False


def progress_text(stage: str, done: int, total: int) -> str:
    if stage == "embedding":
        return messages.embedding(done, total)
    if stage == "queued":
        return messages.queued(done)
    return STAGE_TEXT.get(stage, messages.WORKING)


class ProgressMessage:
    """Edits the deferred reply with the latest progress, at most once per `interval` seconds.

    If the interaction token has expired (a very long build), the result goes to the channel.
    """

    def __init__(self, interaction: discord.Interaction, interval: float = 1.0) -> None:
        self.interaction = interaction
        self.interval = interval
        self._latest: str | None = None
        self._shown: str | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.token_expired = False

    def update(self, stage: str, done: int, total: int) -> None:
        self._latest = progress_text(stage, done, total)
        self._changed.set()

    async def __aenter__(self) -> ProgressMessage:
        self._task = asyncio.create_task(self._run(), name="citebot-build-progress")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._latest and self._latest != self._shown:
                await self.show(self._latest)
            await asyncio.sleep(self.interval)

    async def show(self, text: str) -> None:
        self._shown = text
        if self.token_expired:
            return
        try:
            await self.interaction.edit_original_response(content=render_notice(text))
        except discord.HTTPException as exc:
            if exc.status not in (401, 404):
                log.warning("Could not show build progress: %s", exc)
                return
            self.token_expired = True
            log.info("The interaction expired; the result goes to the channel instead.")

    async def finish(self, text: str) -> None:
        await self.show(text)
        channel = self.interaction.channel
        if self.token_expired and isinstance(channel, discord.abc.Messageable):
            try:
                # The admin who asked is pinged (and only them): the reply they were waiting on is gone.
                await channel.send(
                    messages.expired_fallback(self.interaction.user.mention, render_notice(text)),
                    allowed_mentions=discord.AllowedMentions(users=[self.interaction.user]),
                )
            except discord.HTTPException:
                log.warning("A build finished but the result could not be posted: %s", text)

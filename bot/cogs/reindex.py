"""/reindex: admins replace what the bot knows, with progress shown in the deferred reply."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from index.engine import BuildReport
from index.errors import CitebotError, DocumentRejected

from ..render import render_notice
from ..service import AnswerService, ReindexBusy
from ..uploads import check_declared, download_capped

log = logging.getLogger("citebot.reindex")

STAGE_TEXT = {"parsing": "Reading and cleaning the document…", "writing": "Writing the new index…"}


def progress_text(stage: str, done: int, total: int) -> str:
    if stage == "embedding":
        return f"Embedding sentences: {done:,} of {total:,}…"
    return STAGE_TEXT.get(stage, "Working…")


def summary_text(report: BuildReport) -> str:
    counts = report.manifest.counts
    return (
        f"Reindexed “{report.title}”: {counts.get('body_paragraphs', 0)} paragraphs, "
        f"{counts.get('sentences', 0)} sentences, in {report.seconds:.1f} s. New questions use it now."
    )


class ProgressMessage:
    """Edits the deferred reply with the latest progress, at most once per `interval` seconds.

    If the interaction token has expired (a very long build), it falls back to a channel message.
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
        self._task = asyncio.create_task(self._run(), name="citebot-reindex-progress")
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
        except (discord.NotFound, discord.HTTPException) as exc:
            if isinstance(exc, discord.HTTPException) and exc.status not in (401, 404):
                log.warning("Could not show reindex progress: %s", exc)
                return
            self.token_expired = True
            log.info("The /reindex interaction expired; the result goes to the channel instead.")

    async def finish(self, text: str) -> None:
        await self.show(text)
        if self.token_expired and self.interaction.channel is not None:
            try:
                # The admin who asked is pinged (and only them): the reply they were waiting on is gone.
                await self.interaction.channel.send(  # type: ignore[union-attr]
                    f"{self.interaction.user.mention}: {render_notice(text)}",
                    allowed_mentions=discord.AllowedMentions(users=[self.interaction.user]),
                )
            except discord.HTTPException:
                log.warning("Reindex finished but the result could not be posted: %s", text)


class ReindexCog(commands.Cog):
    """Rebuilds the index from an uploaded document or the configured article."""

    def __init__(self, service: AnswerService, session: aiohttp.ClientSession, max_upload_bytes: int) -> None:
        self.service = service
        self.session = session
        self.max_upload_bytes = max_upload_bytes

    @app_commands.command(name="reindex", description="Reload what I know: an uploaded document, or the configured article.")
    @app_commands.describe(file="A .txt, .md or .html document to answer from (leave empty to reload the configured article)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def reindex(self, interaction: discord.Interaction, file: discord.Attachment | None = None) -> None:
        if self.service.reindexing:
            await interaction.response.send_message(
                f"A reindex started by {self.service.reindex_started_by} is still running; try again when it finishes.",
                ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
            return
        if file is not None:
            try:
                check_declared(file.filename, file.size, self.max_upload_bytes)
            except DocumentRejected as exc:
                await interaction.response.send_message(render_notice(f"Not reindexed: {exc} The current index keeps serving."),
                                                        ephemeral=True)
                return
        await interaction.response.defer(ephemeral=True, thinking=True)
        progress = ProgressMessage(interaction)
        try:
            upload = None
            if file is not None:
                await progress.show("Downloading the document…")
                upload = (file.filename, await download_capped(self.session, file.url, self.max_upload_bytes))
            async with progress:
                report = await self.service.reindex(started_by=str(interaction.user), upload=upload, progress=progress.update)
        except ReindexBusy as exc:
            await progress.finish(str(exc))
            return
        except CitebotError as exc:
            await progress.finish(f"Not reindexed: {exc} The current index keeps serving.")
            return
        except Exception:
            log.exception("Reindex failed")
            await progress.finish("Reindex failed unexpectedly (logged). The current index keeps serving.")
            return
        log.info("Reindexed by %s: %s", interaction.user, summary_text(report))
        await progress.finish(summary_text(report))

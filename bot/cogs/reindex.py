"""/reindex: admins rebuild this server's library, or replace it by one uploaded document."""

from __future__ import annotations

import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from citebot.index.build import BuildReport
from citebot.index.library import NewDocument

from .. import messages
from ..messages import Context, reply_for_error
from ..progress import ProgressMessage, refuse_if_busy
from ..render import render_notice
from ..service import AnswerService
from ..uploads import check_declared, download_capped

log = logging.getLogger(__name__)


def summary_text(report: BuildReport) -> str:
    counts = report.manifest.counts
    return messages.reindexed(
        report.titles, counts.get("body_paragraphs", 0), counts.get("sentences", 0), report.seconds, report.changed
    )


class ReindexCog(commands.Cog):
    """Rebuilds this server's library from its kept documents, or replaces it by an upload."""

    def __init__(self, service: AnswerService, session: aiohttp.ClientSession, max_upload_bytes: int) -> None:
        self.service = service
        self.session = session
        self.max_upload_bytes = max_upload_bytes

    @app_commands.command(
        name="reindex", description="Rebuild this server's library, or replace it by one uploaded document."
    )
    @app_commands.describe(
        file="A .txt, .md, .html, .pdf or .docx document to answer from (empty: rebuild what the library has)"
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def reindex(self, interaction: discord.Interaction, file: discord.Attachment | None = None) -> None:
        server_id = interaction.guild_id
        if await refuse_if_busy(interaction, self.service):
            return
        if file is not None:
            try:
                check_declared(file.filename, file.size, self.max_upload_bytes)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                await interaction.response.send_message(
                    render_notice(reply_for_error(exc, Context.BUILD)), ephemeral=True
                )
                return
        async with self.service.work():  # a stop waits for the admin to hear how it ended
            await interaction.response.defer(ephemeral=True, thinking=True)
            progress = ProgressMessage(interaction)
            try:
                if file is None:
                    # A server without documents of its own reads the default library again: the
                    # same content for everyone.
                    library = await self.service.answering(server_id)
                    async with progress:
                        report = await self.service.rebuild(library, progress=progress.update)
                else:
                    await progress.show(messages.DOWNLOADING)
                    data = await download_capped(self.session, file.url, self.max_upload_bytes)
                    uploaded = [NewDocument(file.filename, data)]
                    async with progress:
                        report = await self.service.replace(
                            self.service.library(server_id),
                            uploaded,
                            added_by=interaction.user.name,
                            progress=progress.update,
                        )
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                await progress.finish(reply_for_error(exc, Context.BUILD))
                return
            log.info("Reindexed server %s: %s", server_id, summary_text(report))
            await progress.finish(summary_text(report))

"""/docs: the documents of this server's library — list them (anyone), add or remove (Manage Server)."""

from __future__ import annotations

import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from .. import messages
from ..messages import Context, reply_for_error
from ..progress import ProgressMessage, refuse_if_busy
from ..render import render_document_list, render_notice
from ..service import AnswerService
from ..uploads import check_declared, download_capped
from .choices import document_choices

log = logging.getLogger(__name__)


@app_commands.guild_only()
class DocsCog(commands.GroupCog, group_name="docs", group_description="The documents this server's library holds."):
    """Manages one server's library. Discord cannot hide single subcommands, so /docs is visible to
    all; add and remove are refused by the bot to members without Manage Server."""

    def __init__(self, service: AnswerService, session: aiohttp.ClientSession, max_upload_bytes: int) -> None:
        super().__init__()
        self.service = service
        self.session = session
        self.max_upload_bytes = max_upload_bytes

    @app_commands.command(name="list", description="The documents I answer from in this server.")
    async def list_documents(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.service.summary(interaction.guild_id)
        await interaction.followup.send(embed=render_document_list(summary), ephemeral=True)

    @app_commands.command(name="add", description="Add a document to this server's library.")
    @app_commands.describe(file="A .txt, .md or .html document", url="Or the link to an article (http or https)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(
        self, interaction: discord.Interaction, file: discord.Attachment | None = None, url: str | None = None
    ) -> None:
        server_id = interaction.guild_id
        if await refuse_if_busy(interaction, self.service):
            return
        if (file is None) == (url is None):
            await interaction.response.send_message(messages.FILE_OR_URL, ephemeral=True)
            return
        if url is not None:
            await self._add_url(interaction, url.strip())
            return
        assert file is not None
        try:
            check_declared(file.filename, file.size, self.max_upload_bytes)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            await interaction.response.send_message(render_notice(reply_for_error(exc, Context.ADD)), ephemeral=True)
            return
        async with self.service.work():  # a stop waits for the admin to hear how it ended
            await interaction.response.defer(ephemeral=True, thinking=True)
            progress = ProgressMessage(interaction)
            try:
                await progress.show(messages.DOWNLOADING)
                data = await download_capped(self.session, file.url, self.max_upload_bytes)
                async with progress:
                    report = await self.service.add_document(
                        server_id, file.filename, data, added_by=interaction.user.name, progress=progress.update
                    )
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                await progress.finish(reply_for_error(exc, Context.ADD))
                return
            added = report.titles[-1] if report.titles else file.filename
            log.info("Server %s added a document (%d now).", server_id, len(report.titles))
            await progress.finish(messages.document_added(added, len(report.titles), report.seconds))

    async def _add_url(self, interaction: discord.Interaction, url: str) -> None:
        server_id = interaction.guild_id
        async with self.service.work():  # a stop waits for the admin to hear how it ended
            await interaction.response.defer(ephemeral=True, thinking=True)
            progress = ProgressMessage(interaction)
            try:
                await progress.show(messages.FETCHING)
                async with progress:
                    report = await self.service.add_url(
                        server_id, url, added_by=interaction.user.name, progress=progress.update
                    )
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                await progress.finish(reply_for_error(exc, Context.ADD))
                return
            added = report.titles[-1] if report.titles else url
            await progress.finish(messages.document_added(added, len(report.titles), report.seconds))

    @app_commands.command(name="remove", description="Remove a document from this server's library.")
    @app_commands.describe(document="The document to remove")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction, document: str) -> None:
        server_id = interaction.guild_id
        if await refuse_if_busy(interaction, self.service):
            return
        async with self.service.work():  # a stop waits for the admin to hear how it ended
            await interaction.response.defer(ephemeral=True, thinking=True)
            progress = ProgressMessage(interaction)
            try:
                own = await self.service.own_documents(server_id)
                title = next((d.title for d in own if d.key == document), None)
                async with progress:
                    report = await self.service.remove_document(server_id, document, progress=progress.update)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                await progress.finish(reply_for_error(exc, Context.BUILD))
                return
            title = title or document
            if report is None:
                await progress.finish(messages.last_document_removed(title))
            else:
                await progress.finish(messages.document_removed(title, len(report.titles)))

    @remove.autocomplete("document")
    async def remove_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return document_choices(await self.service.own_documents(interaction.guild_id), current)

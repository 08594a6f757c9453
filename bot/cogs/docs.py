"""/docs: the documents of this server's library — list them (anyone), add or remove (Manage Server).

Documents come as a file, a web page, text pasted in a form (/docs add text:True), or a Discord
message with its attached files (Apps → Add to citebot library).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from citebot.index.build import BuildProgress, BuildReport, Provenance
from citebot.index.library import NewDocument

from .. import messages
from ..messages import Context, reply_for_error
from ..progress import ProgressMessage, refuse_if_busy
from ..render import render_document_list, render_notice
from ..service import AnswerService
from ..uploads import check_declared, download_capped, is_document_name
from .choices import document_choices

log = logging.getLogger(__name__)

# Discord's limits: a modal's text input holds at most 4,000 characters; a title we keep to 100.
PASTE_MAX_CHARS = 4000
TITLE_MAX_CHARS = 100

Adding = Callable[[BuildProgress], Awaitable[BuildReport]]


@app_commands.guild_only()
class DocsCog(commands.GroupCog, group_name="docs", group_description="The documents this server's library holds."):
    """Manages one server's library. Discord cannot hide single subcommands, so /docs is visible to
    all; add and remove are refused by the bot to members without Manage Server."""

    def __init__(
        self, bot: commands.Bot, service: AnswerService, session: aiohttp.ClientSession, max_upload_bytes: int
    ) -> None:
        super().__init__()
        self.bot = bot
        self.service = service
        self.session = session
        self.max_upload_bytes = max_upload_bytes
        self.add_message_menu = app_commands.ContextMenu(name=messages.ADD_MESSAGE_COMMAND, callback=self._add_message)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.add_message_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.add_message_menu.name, type=self.add_message_menu.type)

    @app_commands.command(name="list", description="The documents I answer from in this server.")
    async def list_documents(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = await self.service.answering(interaction.guild_id)
        info = await self.service.describe(library)
        await interaction.followup.send(embed=render_document_list(info), ephemeral=True)

    @app_commands.command(name="add", description="Add a document to this server's library.")
    @app_commands.describe(
        file="A .txt, .md, .html, .pdf or .docx document",
        url="Or the link to an article or a PDF (http or https)",
        text="Or True to type or paste the text in a form",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: str | None = None,
        text: bool = False,
    ) -> None:
        if await refuse_if_busy(interaction, self.service):
            return
        if sum((file is not None, url is not None, text)) != 1:
            await interaction.response.send_message(messages.FILE_OR_URL, ephemeral=True)
            return
        if text:
            await interaction.response.send_modal(PasteText(self._add_pasted))
            return
        if url is not None:
            library, link = self.service.library(interaction.guild_id), url.strip()
            by = interaction.user.name
            await self._adding(
                interaction,
                messages.FETCHING,
                lambda progress: self.service.add_url(library, link, added_by=by, progress=progress),
                fallback=link,
            )
            return
        assert file is not None
        try:
            check_declared(file.filename, file.size, self.max_upload_bytes)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            await interaction.response.send_message(render_notice(reply_for_error(exc, Context.ADD)), ephemeral=True)
            return
        await self._adding(
            interaction, messages.DOWNLOADING, self._downloaded([file], interaction), fallback=file.filename
        )

    async def _add_pasted(self, interaction: discord.Interaction, title: str, text: str) -> None:
        if await refuse_if_busy(interaction, self.service):
            return
        library, by = self.service.library(interaction.guild_id), interaction.user.name
        document = NewDocument(file_name(title, ".txt"), text.encode("utf-8"), provenance=Provenance("text", title))
        await self._adding(
            interaction,
            messages.WORKING,
            lambda progress: self.service.add(library, [document], added_by=by, progress=progress),
            fallback=title,
        )

    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def _add_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Apps → Add to citebot library: the message's text (titled in a form) and its documents."""
        if await refuse_if_busy(interaction, self.service):
            return
        text = message.content.strip()
        if any(ch.isalnum() for ch in text):
            await interaction.response.send_modal(
                TitleMessage(
                    first_line_title(text), lambda submitted, title: self._add_message_now(submitted, message, title)
                )
            )
        elif attached_documents(message)[0]:
            await self._add_message_now(interaction, message, None)
        else:
            await interaction.response.send_message(messages.MESSAGE_HAS_NOTHING, ephemeral=True)

    async def _add_message_now(
        self, interaction: discord.Interaction, message: discord.Message, title: str | None
    ) -> None:
        if title is not None and await refuse_if_busy(interaction, self.service):
            return  # asked again: a build may have started while the form was open
        files, skipped = attached_documents(message)
        try:
            for file in files:
                check_declared(file.filename, file.size, self.max_upload_bytes)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            await interaction.response.send_message(render_notice(reply_for_error(exc, Context.ADD)), ephemeral=True)
            return
        text_document = None
        if title is not None:
            provenance = Provenance("message", title, message.jump_url)
            # A message is Markdown: its marks are not quoted.
            data = message.content.encode("utf-8")
            text_document = NewDocument(file_name(title, ".md"), data, provenance=provenance)
        await self._adding(
            interaction,
            messages.DOWNLOADING if files else messages.WORKING,
            self._downloaded(files, interaction, first=text_document),
            fallback=title or (files[0].filename if files else ""),
            skipped=skipped,
        )

    def _downloaded(
        self, files: list[discord.Attachment], interaction: discord.Interaction, first: NewDocument | None = None
    ) -> Adding:
        """Download `files` (each capped), then add them, after `first`, in one build."""
        library, by = self.service.library(interaction.guild_id), interaction.user.name

        async def add(progress: BuildProgress) -> BuildReport:
            documents = [first] if first is not None else []
            for file in files:
                data = await download_capped(self.session, file.url, self.max_upload_bytes)
                documents.append(NewDocument(file.filename, data))
            return await self.service.add(library, documents, added_by=by, progress=progress)

        return add

    async def _adding(
        self,
        interaction: discord.Interaction,
        first_status: str,
        add: Adding,
        *,
        fallback: str,
        skipped: list[str] | None = None,
    ) -> None:
        """Run one change of the library with its progress in the admin's reply, then say how it ended."""
        async with self.service.work():  # a stop waits for the admin to hear how it ended
            await interaction.response.defer(ephemeral=True, thinking=True)
            progress = ProgressMessage(interaction)
            try:
                await progress.show(first_status)
                async with progress:
                    report = await add(progress.update)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                await progress.finish(reply_for_error(exc, Context.ADD))
                return
            added = report.titles[-1] if report.titles else fallback
            log.info("Server %s added a document (%d now).", interaction.guild_id, len(report.titles))
            await progress.finish(messages.document_added(added, len(report.titles), report.seconds, skipped or []))

    @app_commands.command(name="remove", description="Remove a document from this server's library.")
    @app_commands.describe(document="The document to remove")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction, document: str) -> None:
        server_id = interaction.guild_id
        library = self.service.library(server_id)
        if await refuse_if_busy(interaction, self.service):
            return
        async with self.service.work():  # a stop waits for the admin to hear how it ended
            await interaction.response.defer(ephemeral=True, thinking=True)
            progress = ProgressMessage(interaction)
            try:
                own = await self.service.own_documents(server_id)
                title = next((d.title for d in own if d.key == document), None)
                async with progress:
                    report = await self.service.remove(library, document, progress=progress.update)
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


_MARKUP = re.compile(r"^[#>*_\-\s]+|[*_`~]+$|<[@#][!&]?\d+>")


def attached_documents(message: discord.Message) -> tuple[list[discord.Attachment], list[str]]:
    """A message's attachments citebot reads, and the names of those it does not."""
    files = [a for a in message.attachments if is_document_name(a.filename)]
    return files, [a.filename for a in message.attachments if not is_document_name(a.filename)]


def file_name(title: str, suffix: str) -> str:
    """The name a titled text is kept under (shown in the terminal's listing; never a path)."""
    return (" ".join(re.sub(r"[\\/\x00-\x1f:]", " ", title).split())[:80] or "document") + suffix


def first_line_title(text: str) -> str:
    """A title for a message's text: its first line without markdown marks, cut at a word."""
    line = next((line for line in text.splitlines() if any(ch.isalnum() for ch in line)), "")
    line = " ".join(_MARKUP.sub(" ", line).replace("**", "").split())
    return messages.trim(line, TITLE_MAX_CHARS) or "A message"


class PasteText(discord.ui.Modal, title=messages.PASTE_FORM_TITLE):
    """The form /docs add text:True opens: a title and the text, up to Discord's 4,000 characters."""

    document_title: discord.ui.TextInput[PasteText] = discord.ui.TextInput(
        label="Title", placeholder="How citations name it", max_length=TITLE_MAX_CHARS
    )
    text: discord.ui.TextInput[PasteText] = discord.ui.TextInput(
        label="Text", style=discord.TextStyle.paragraph, max_length=PASTE_MAX_CHARS
    )

    def __init__(self, submit: Callable[[discord.Interaction, str, str], Awaitable[None]]) -> None:
        super().__init__(timeout=15 * 60)
        self._submit = submit

    async def on_submit(self, interaction: discord.Interaction) -> None:
        title = " ".join(self.document_title.value.split())
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message(messages.NEEDS_MANAGE_SERVER, ephemeral=True)
            return
        await self._submit(interaction, title or "Pasted text", self.text.value)


class TitleMessage(discord.ui.Modal, title=messages.MESSAGE_FORM_TITLE):
    """The form Apps → Add to citebot library opens: the title to cite the message by."""

    document_title: discord.ui.TextInput[TitleMessage] = discord.ui.TextInput(label="Title", max_length=TITLE_MAX_CHARS)

    def __init__(self, suggested: str, submit: Callable[[discord.Interaction, str], Awaitable[None]]) -> None:
        super().__init__(timeout=15 * 60)
        self.document_title.default = suggested
        self._submit = submit

    async def on_submit(self, interaction: discord.Interaction) -> None:
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message(messages.NEEDS_MANAGE_SERVER, ephemeral=True)
            return
        await self._submit(interaction, " ".join(self.document_title.value.split()) or "A message")

"""Asking: /ask, /summary, "Ask citebot" on a message, and messages: mentions, replies to an answer,
threads that start from one, the ask channel and new forum posts. Translates Discord input into
questions to this server's library, and follow-ups into questions read with the exchange before them."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from citebot.index.answer import Answer, Exchange

from .. import messages
from ..components import answer_view
from ..conversations import ConversationService
from ..cooldown import Cooldown
from ..delivery import deliver
from ..messages import Context, reply_for_error
from ..render import render_answer, render_notice
from ..seen import SeenEvents
from ..service import AnswerService
from .choices import document_choices

log = logging.getLogger(__name__)

_BOT_MENTION = "<@!?{id}>"
THREAD_NAME_LIMIT = 100


class AskCog(commands.Cog):
    """Answers questions, remembers each exchange (for follow-ups and /insights), and adds the buttons."""

    def __init__(
        self,
        bot: commands.Bot,
        service: AnswerService,
        conversations: ConversationService,
        cooldown: Cooldown,
        seen: SeenEvents,
    ) -> None:
        self.bot = bot
        self.service = service
        self.conversations = conversations
        self.cooldown = cooldown
        self.seen = seen
        self.ask_about_message = app_commands.ContextMenu(name="Ask citebot", callback=self._ask_about_message)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.ask_about_message)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.ask_about_message.name, type=self.ask_about_message.type)

    # ---- slash commands ----------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask about this server's documents; I answer with cited quotes.")
    @app_commands.describe(
        question="Your question",
        document="Only answer from this document",
        private="Only you see the answer",
        thread="Answer in a new thread, where you can go on asking",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 1000],
        document: str | None = None,
        private: bool = False,
        thread: bool = False,
    ) -> None:
        server_id = interaction.guild_id

        async def get() -> Answer:
            library = await self.service.answering(server_id)
            return await self.service.answer(library, question, document=document or None, server=server_id)

        await self._answer_interaction(
            interaction,
            private=private,
            thread_name=question if thread and not private and interaction.guild_id is not None else None,
            get=get,
        )

    @ask.autocomplete("document")
    async def ask_document(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._document_choices(interaction, current)

    @app_commands.command(name="summary", description="What a document says, in its own words, with citations.")
    @app_commands.describe(document="The document to summarise (default: each one here)", private="Only you see it")
    async def summary(
        self, interaction: discord.Interaction, document: str | None = None, private: bool = False
    ) -> None:
        server_id = interaction.guild_id

        async def get() -> Answer:
            library = await self.service.answering(server_id)
            return await self.service.summarise(library, document=document or None, server=server_id)

        await self._answer_interaction(interaction, private=private, thread_name=None, get=get)

    @summary.autocomplete("document")
    async def summary_document(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._document_choices(interaction, current)

    async def _document_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        library = await self.service.answering(interaction.guild_id)
        return document_choices((await self.service.describe(library)).documents, current)

    async def _ask_about_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Apps → Ask citebot: the message's text is the question; the answer replies to that message."""
        question = re.sub(r"<@!?\d+>", " ", message.content).strip()
        if not any(ch.isalnum() for ch in question):
            await interaction.response.send_message(messages.NO_QUESTION_IN_MESSAGE, ephemeral=True)
            return
        if not await self._may_ask(interaction):
            return
        server_id = interaction.guild_id
        async with self.service.work():
            await interaction.response.defer(ephemeral=True, thinking=True)

            async def get() -> Answer:
                return await self.service.answer(await self.service.answering(server_id), question, server=server_id)

            answer = await self._get_or_tell(interaction, get)
            if answer is None:
                return
            embed, view = render_answer(answer), answer_view(answer)
            try:
                sent = await message.reply(embed=embed, view=_or_missing(view), mention_author=False)
            except discord.HTTPException as exc:  # cannot post there: the answer goes to the asker alone
                log.info("Could not reply in channel %s (%s); answering privately.", message.channel.id, exc.status)
                sent_privately = await deliver(
                    lambda: interaction.followup.send(embed=embed, view=_or_missing(view), ephemeral=True, wait=True),
                    what="an answer",
                )
                channel_id = interaction.channel_id or message.channel.id
                await self._remember(sent_privately, channel_id, interaction.user.id, server_id, answer)
                return
            await self._remember(sent, message.channel.id, interaction.user.id, server_id, answer)
            await deliver(
                lambda: interaction.followup.send(messages.ANSWERED_IN_REPLY, ephemeral=True), what="a notice"
            )

    async def _answer_interaction(
        self,
        interaction: discord.Interaction,
        *,
        private: bool,
        thread_name: str | None,
        get: Callable[[], Awaitable[Answer]],
    ) -> None:
        if not await self._may_ask(interaction):
            return
        async with self.service.work():  # from here on, a stop waits for this answer to be sent
            await interaction.response.defer(ephemeral=private, thinking=True)
            answer = await self._get_or_tell(interaction, get)
            if answer is None:
                return
            embed, view = render_answer(answer), answer_view(answer)
            sent = await deliver(
                lambda: interaction.followup.send(embed=embed, view=_or_missing(view), ephemeral=private, wait=True),
                what="an answer",
            )
            channel_id = interaction.channel_id or sent.channel.id
            channel = interaction.channel
            if thread_name is not None and not answer.abstained and isinstance(channel, discord.TextChannel):
                try:
                    thread = await channel.create_thread(name=_thread_name(thread_name), message=sent)
                    channel_id = thread.id
                except discord.HTTPException as exc:
                    log.info("Could not start a thread from answer %s (%s).", sent.id, exc.status)
            await self._remember(sent, channel_id, interaction.user.id, interaction.guild_id, answer)

    async def _may_ask(self, interaction: discord.Interaction) -> bool:
        if not self.service.accepting:
            await interaction.response.send_message(messages.RESTARTING, ephemeral=True)
            return False
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(messages.cooldown(wait), ephemeral=True)
            return False
        return True

    async def _get_or_tell(
        self, interaction: discord.Interaction, get: Callable[[], Awaitable[Answer]]
    ) -> Answer | None:
        try:
            return await get()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            notice = render_notice(reply_for_error(exc, Context.ANSWER))
            await deliver(lambda: interaction.followup.send(notice, ephemeral=True), what="a notice")
            return None

    async def _remember(
        self, sent: discord.Message, channel_id: int, member_id: int, server_id: int | None, answer: Answer
    ) -> None:
        """Keep the exchange for follow-ups and /insights; losing it must not lose the answer."""
        try:
            await self.conversations.record(
                message_id=sent.id, server_id=server_id, channel_id=channel_id, member_id=member_id, answer=answer
            )
        except Exception:
            log.exception("Could not record the exchange of answer %s", sent.id)

    # ---- messages ----------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if not self.seen.first_time(message.id):
            log.info("Message %s delivered again; already handled.", message.id)
            return
        question = re.sub(_BOT_MENTION.format(id=me.id), " ", message.content).strip()
        has_words = any(ch.isalnum() for ch in question)
        direct = message.guild is None or me in message.mentions or message.reference is not None
        if not has_words and not direct:
            return  # most messages: not for the bot (and without Message Content, their text is empty)
        addressed, context = await self._addressed(message, me)
        if not addressed:
            return
        if not has_words:
            if addressed == "mention":  # a bare mention gets a hint; elsewhere, wordless messages are left be
                await message.reply(render_notice(messages.ask_prompt(me.name)), mention_author=False)
            return
        await self._answer_message(message, question, context)

    async def _addressed(self, message: discord.Message, me: discord.ClientUser) -> tuple[str | None, Exchange | None]:
        """Whether a message is a question for the bot (and how), and the exchange it follows up on.

        A reply to one of the bot's answers, or a message in a thread that holds its answers, goes on
        from that exchange. Messages that do not mention the bot are read only where the server asked
        for it (ask channel) or in such threads; without the Message Content intent their text is
        empty unless they reply to or mention the bot, and they are left alone.
        """
        replied = await self._replied_exchange(message, me)
        if isinstance(message.channel, discord.DMChannel) or message.guild is None:
            return "mention", replied
        if replied is not None:
            return "reply", replied
        mentioned = me in message.mentions
        # A thread's first message (same id as the thread: a forum post) is handled as a new post.
        if isinstance(message.channel, discord.Thread) and message.id != message.channel.id:
            in_thread = await self.conversations.in_thread(message.channel.id)
            if in_thread is not None:
                return ("mention" if mentioned else "thread"), in_thread
        if mentioned:
            return "mention", None
        config = await self.conversations.config(message.guild.id)
        if config.ask_channel is not None and message.channel.id == config.ask_channel:
            return "ask channel", None
        return None, None

    async def _replied_exchange(self, message: discord.Message, me: discord.ClientUser) -> Exchange | None:
        reference = message.reference
        if reference is None or reference.message_id is None:
            return None
        resolved = reference.resolved
        if isinstance(resolved, discord.Message) and resolved.author.id != me.id:
            return None
        return await self.conversations.exchange(reference.message_id)

    async def _answer_message(self, message: discord.Message, question: str, context: Exchange | None) -> None:
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            if self.cooldown.first_warning(message.author.id):
                await message.reply(render_notice(messages.cooldown(wait)), mention_author=False)
            return
        if not self.service.accepting:
            await message.reply(messages.RESTARTING, mention_author=False)
            return
        async with self.service.work():  # from here on, a stop waits for this answer to be sent
            with contextlib.suppress(discord.HTTPException):  # typing is a courtesy; the answer is not
                await message.channel.typing()
            await self._answer_in_channel(
                question,
                context,
                send=functools.partial(message.reply, mention_author=False),
                server_id=message.guild.id if message.guild is not None else None,
                channel_id=message.channel.id,
                member_id=message.author.id,
            )

    async def _answer_in_channel(
        self,
        question: str,
        context: Exchange | None,
        *,
        send: Callable[..., Awaitable[discord.Message]],
        server_id: int | None,
        channel_id: int,
        member_id: int,
    ) -> None:
        """Answer and post with `send` (a reply, or a message in a thread), and remember the exchange."""
        try:
            library = await self.service.answering(server_id)
            answer = await self.service.answer(library, question, context=context, server=server_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            notice = render_notice(reply_for_error(exc, Context.ANSWER))
            await deliver(lambda: send(notice), what="a notice")
            return
        embed, view = render_answer(answer), answer_view(answer)
        sent = await deliver(lambda: send(embed=embed, view=_or_missing(view)), what="an answer")
        await self._remember(sent, channel_id, member_id, server_id, answer)

    # ---- forum posts -------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        """A new post in a forum the server opted in: answer it in its thread."""
        me = self.bot.user
        if me is None or thread.owner_id == me.id or thread.parent_id is None:
            return
        if not self.seen.first_time(("thread", thread.id)):  # a forum post's thread id is its first message's id
            return
        config = await self.conversations.config(thread.guild.id)
        if thread.parent_id not in config.forums:
            return
        starter = thread.starter_message
        if starter is None:
            with contextlib.suppress(discord.HTTPException):
                starter = await thread.fetch_message(thread.id)
        if starter is not None and starter.author.bot:
            return
        body = starter.content if starter is not None else ""
        question = " ".join(f"{thread.name}. {body}".split())[:1000]
        if not self.service.accepting:
            return
        async with self.service.work():
            await self._answer_in_channel(
                question,
                None,
                send=thread.send,
                server_id=thread.guild.id,
                channel_id=thread.id,
                member_id=starter.author.id if starter is not None else (thread.owner_id or 0),
            )


def _thread_name(question: str) -> str:
    name = " ".join(question.split())
    return name if len(name) <= THREAD_NAME_LIMIT else name[: THREAD_NAME_LIMIT - 1].rstrip() + "…"


def _or_missing(view: discord.ui.View | None) -> Any:
    """discord.py's send() takes MISSING, not None, for "no view"."""
    return view if view is not None else discord.utils.MISSING

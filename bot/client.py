"""The Discord client: start-up, command sync, error replies, and `citebot run`."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import discord
import yarl
from aiohttp import web
from discord import app_commands
from discord.ext import commands

from citebot.index.engine import Engine
from citebot.index.errors import CitebotError
from citebot.index.vectors import limit_search_threads

from .cogs.about import AboutCog
from .cogs.ask import AskCog
from .cogs.config import ConfigCog
from .cogs.docs import DocsCog
from .cogs.insights import InsightsCog
from .cogs.reindex import ReindexCog
from .cogs.retention import RetentionCog
from .command_sync import commands_digest
from .components import persistent_items
from .conversations import ConversationService
from .cooldown import Cooldown
from .errors import DiscordUnreachable
from .identify import Gate, IdentifyGate, RestartBackoff
from .messages import reply_for_error
from .metrics import serve_health
from .render import render_notice
from .seen import SeenEvents
from .service import AnswerService
from .settings import Settings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_NO_TOKEN, EXIT_INTENTS = 0, 1, 2, 3


def point_discord_at(api_base: str, gateway_url: str) -> None:
    """Aim discord.py's REST and gateway at `api_base` and `gateway_url`.

    discord.py keeps both as class attributes with no public setter, so this is process-wide;
    every bot sets them from its own settings when it is built.
    """
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def bot_intents(message_content: bool = False) -> discord.Intents:
    """No privileged intent unless the owner opts in: without Message Content, Discord still sends the
    text of messages that mention the bot or reply to it (with a ping), of DMs, and of messages that
    "Ask citebot" is used on; an ask channel and forum posts need it."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


class CitebotTree(app_commands.CommandTree["CitebotBot"]):
    """The command tree, handling each interaction once even when Discord delivers it again."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if self.client.seen.first_time(interaction.id):
            return True
        log.info("Interaction %s delivered again; already handled.", interaction.id)
        return False


class CitebotBot(commands.Bot):
    """A `commands.Bot` whose features live in cogs, each handed the service it needs."""

    def __init__(self, settings: Settings, engine: Engine, **options: Any) -> None:
        point_discord_at(settings.discord_api_base, settings.discord_gateway_url)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(settings.message_content_intent),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CitebotTree,
            **options,
        )
        self.settings = settings
        self.service = AnswerService(
            engine, max_concurrent=settings.max_concurrent_answers, max_concurrent_builds=settings.build_slots
        )
        self.conversations = ConversationService(settings.conversation_store, settings.keep_questions_days)
        self.downloads: aiohttp.ClientSession | None = None
        self.health: web.AppRunner | None = None
        self.seen = SeenEvents()
        self.identify_gate: Gate = (
            IdentifyGate(settings.database_url) if settings.database_url else RestartBackoff(settings.index_dir)
        )
        self._max_concurrency: int | None = None
        self._stopping = False
        self._skip_events_that_fail_to_parse()

    def _skip_events_that_fail_to_parse(self) -> None:
        """An event discord.py cannot parse is logged and skipped instead of ending the connection.

        discord.py offers no hook for this: its parsers are the connection state's `parsers` dict,
        which the gateway reads on every event, so each entry is wrapped in place.
        """
        parsers = self._connection.parsers
        for event, parse in list(parsers.items()):
            parsers[event] = _skipping_failures(event, parse)
        self.synced = False

    async def setup_hook(self) -> None:
        await self.service.start()
        self.downloads = aiohttp.ClientSession()
        cooldown = Cooldown(self.settings.ask_cooldown_seconds)
        self.add_dynamic_items(*persistent_items())  # buttons under answers sent before a restart
        await self.add_cog(AskCog(self, self.service, self.conversations, cooldown, self.seen))
        await self.add_cog(InsightsCog(self.conversations))
        await self.add_cog(ConfigCog(self.conversations, self.settings.message_content_intent))
        await self.add_cog(ReindexCog(self.service, self.downloads, self.settings.max_upload_bytes))
        await self.add_cog(DocsCog(self, self.service, self.downloads, self.settings.max_upload_bytes))
        await self.add_cog(AboutCog(self.service))
        await self.add_cog(
            RetentionCog(
                self,
                self.service,
                self.conversations,
                self.settings.departures(),
                self.settings.delete_after_leave_days,
                self.owns,
            )
        )
        self.tree.error(self.on_app_command_error)
        if self.settings.metrics_port is not None:
            self.health = await serve_health(
                self.settings.metrics_host,
                self.settings.metrics_port,
                self.service.metrics,
                self.healthy,
                self._measure_gateways,
            )
        await self.sync_commands()

    async def healthy(self) -> bool:
        """Connected to Discord, not stopping, and the shared database (if any) answers."""
        if self._stopping or self.is_closed() or not self.is_ready() or not self._gateways_open():
            return False
        if not self.settings.database_url:
            return True
        try:
            return await asyncio.wait_for(asyncio.to_thread(database_answers, self.settings.database_url), 3.0)
        except TimeoutError:
            return False

    def _gateways_open(self) -> bool:
        """Every gateway connection of this process is open now (each shard's, when sharded)."""
        shards = getattr(self, "shards", None)
        if isinstance(shards, dict) and shards:
            return all(not shard.is_closed() for shard in shards.values())
        return self.ws is not None and bool(self.ws.open)

    def owns(self, server_id: int) -> bool:
        """Whether this process's shards carry the server (always, unsharded)."""
        shards = self.settings.owned_shards()
        count = self.settings.shard_count
        return shards is None or count is None or (server_id >> 22) % count in shards

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Back off when a shard keeps restarting; in a fleet, also wait for this shard's turn through
        the database (see bot/identify.py); otherwise discord.py paces the shards of this process."""
        if not isinstance(self.identify_gate, IdentifyGate):
            waited = await asyncio.to_thread(self.identify_gate.wait_turn, shard_id or 0)
            if not waited:
                await super().before_identify_hook(shard_id, initial=initial)
            return
        if self._max_concurrency is None:
            try:
                _, _, limit = await self.http.get_bot_gateway()
                self._max_concurrency = int(limit.get("max_concurrency", 1))
            except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError, KeyError, TypeError):
                self._max_concurrency = 1
        waited = await asyncio.to_thread(self.identify_gate.wait_turn, shard_id or 0, self._max_concurrency)
        if waited > 0.05:
            log.info("Shard %s waited %.1f s for its turn to connect.", shard_id or 0, waited)

    def _measure_gateways(self) -> None:
        shards = getattr(self, "latencies", None) or [(self.shard_id or 0, self.latency)]
        for shard, seconds in shards:
            if math.isfinite(seconds):
                self.service.metrics.gateway_latency.labels(str(shard)).set(seconds)

    async def on_message(self, message: discord.Message) -> None:
        """Mentions are handled by AskCog; there are no prefix commands to process."""

    async def shutdown(self) -> None:
        """Stop gracefully: take no new questions, stop builds, answer those in flight, then close."""
        if self._stopping:
            return
        self._stopping = True
        grace = self.settings.shutdown_grace_seconds
        log.info("Stopping: answering the questions in flight (up to %g s), builds stopped.", grace)
        if not await self.service.stop(grace):
            log.warning("Some questions were still unanswered after %g s; stopping anyway.", grace)
        await self.close()

    async def on_ready(self) -> None:
        log.info("Connected as %s to %d server(s).", self.user, len(self.guilds))

    # ---- command sync ----------------------------------------------------------------------
    async def sync_commands(self) -> None:
        """Sync to DISCORD_GUILD_ID (instant) or globally, only when the commands changed (auto)."""
        guild = discord.Object(id=self.settings.discord_guild_id) if self.settings.discord_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        mode = self.settings.sync_commands
        if mode == "never":
            return
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = commands_digest(payload)
        scope = f"{self.application_id}:{guild.id if guild else 'global'}"
        record = self.settings.sync_record()
        if mode == "auto" and await asyncio.to_thread(record.synced, scope) == digest:
            log.info("Slash commands unchanged; not syncing.")
            return
        await self.tree.sync(guild=guild)
        self.synced = True
        await asyncio.to_thread(record.record, scope, digest)
        log.info("Synced %d slash commands %s.", len(payload), f"to guild {guild.id}" if guild else "globally")

    # ---- errors ------------------------------------------------------------------------------
    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Every failure gets a short reply; unexpected ones also go to the log with a traceback.

        Commands with nothing to add to the reply let their failures reach here rather than catch them."""
        text = reply_for_error(error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(render_notice(text), ephemeral=True)
            else:
                await interaction.response.send_message(render_notice(text), ephemeral=True)
        except discord.HTTPException:
            log.warning("Could not tell the user about an error: %s", text)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("Unhandled error in %s", event_method)

    async def close(self) -> None:
        self.identify_gate.stopping.set()
        await super().close()
        if self.health is not None:
            await self.health.cleanup()
        if self.downloads is not None:
            await self.downloads.close()
        self.service.close()
        self.conversations.close()


class ShardedCitebotBot(CitebotBot, commands.AutoShardedBot):
    """The bot with SHARD_COUNT set: one gateway connection per shard of SHARD_IDS, in this process."""


def make_bot(settings: Settings, engine: Engine, **options: Any) -> CitebotBot:
    """The bot these settings ask for: sharded when SHARD_COUNT is set."""
    shards = settings.owned_shards()
    if shards is None:
        return CitebotBot(settings, engine, **options)
    return ShardedCitebotBot(settings, engine, shard_count=settings.shard_count, shard_ids=list(shards), **options)


# Interaction tokens are 15-minute credentials: in webhook and callback URLs, and in the gateway
# payloads discord.py logs at DEBUG ("token": "..."; as JSON or as a Python dict).
_CREDENTIALS = re.compile(
    r"(?P<path>/(?:webhooks|interactions)/\d+/)[A-Za-z0-9._\-]{20,}"
    r"|(?P<key>[\"']token[\"']\s*:\s*[\"'])[^\"']+"
)


def _redact_credentials(match: re.Match[str]) -> str:
    return (match.group("path") or match.group("key")) + "[token]"


def _skipping_failures(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    def parse_or_skip(data: Any) -> None:
        try:
            parse(data)
        except Exception:
            log.exception("Skipped a %s event that could not be parsed", event)

    return parse_or_skip


class TokenRedactor(logging.Filter):
    """Replaces the bot token, interaction tokens and webhook URLs wherever a log record holds them."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _CREDENTIALS.sub(_redact_credentials, message)
        if self.token:
            redacted = redacted.replace(self.token, "[token]")
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True


def run_bot(settings: Settings) -> int:
    """`citebot run`: connect with DISCORD_TOKEN and serve until SIGINT or SIGTERM."""
    if not settings.discord_token:
        print(
            "citebot: DISCORD_TOKEN is not set. Put it in .env (copy .env.example) or in the environment.",
            file=sys.stderr,
        )
        return EXIT_NO_TOKEN
    level = getattr(logging, settings.log_level, logging.INFO)
    discord.utils.setup_logging(level=level, root=True)
    redactor = TokenRedactor(settings.discord_token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
        # Some libraries (bm25s) set their own loggers to DEBUG on import; hold them to LOG_LEVEL.
        handler.setLevel(level)
    settings.apply_model_environment()
    try:
        return asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return EXIT_OK


LOGIN_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)


async def login_with_retries(bot: commands.Bot, settings: Settings) -> None:
    """Log in, retrying with back-off when Discord cannot be reached (never in a tight loop)."""
    for attempt, delay in enumerate((*LOGIN_RETRY_DELAYS, None)):
        try:
            await bot.login(settings.discord_token)
            return
        except (TimeoutError, aiohttp.ClientError, OSError, discord.DiscordServerError) as exc:
            log.debug("Login attempt %d failed", attempt + 1, exc_info=exc)
            # Each login opens a new HTTP session on the client's connector: close the failed one,
            # and let the next attempt make a fresh connector (a closed one cannot be reused).
            await bot.http.close()
            bot.http.connector = discord.utils.MISSING
            if delay is None:
                raise DiscordUnreachable(
                    f"Discord cannot be reached at {settings.discord_api_base} "
                    f"({type(exc).__name__}; tried {attempt + 1} times). Check the network and DISCORD_API_BASE."
                ) from exc
            log.warning("Discord cannot be reached (%s); trying again in %.0f s.", type(exc).__name__, delay)
            await asyncio.sleep(delay)


def index_dir_problem(settings: Settings) -> str | None:
    """Why the index folder cannot be written, if it cannot (checked before going online)."""
    probe = settings.index_dir / f".write-test-{os.getpid()}"
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        log.debug("Index folder check failed", exc_info=exc)
        return f"the index folder {settings.index_dir} is not writable ({exc.strerror or exc}). Set INDEX_DIR."
    return None


def database_answers(dsn: str) -> bool:
    """Whether the shared database answers a trivial query now."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def make_engine(settings: Settings) -> Engine:
    """The bot's engine: builds in a child process unless BUILD_IN_CHILD_PROCESS is false; in a fleet
    (DATABASE_URL), on the build workers."""
    engine = Engine(settings.engine_config(), store=settings.library_store())
    if not (settings.build_in_child_process or settings.database_url):
        return engine
    from citebot.index.build_process import ChildBuilds, ChildSpec

    children = ChildBuilds(
        ChildSpec(settings.embedding_model, settings.index_dir, engine.build_options, settings.query_encoder)
    )
    engine.build_runner = children
    if settings.database_url:  # the fleet: builds of uploaded documents are jobs for `citebot worker`
        from citebot.index.build_queue import QueuedBuilds
        from citebot.index.postgres_store import PostgresLibraryStore

        assert isinstance(engine.store, PostgresLibraryStore)
        engine.build_runner = QueuedBuilds(engine.store, children)
    return engine


async def serve(settings: Settings, **options: Any) -> int:
    """Run the bot until it is closed; returns the process exit status."""
    problem = index_dir_problem(settings)
    if problem:
        log.error("citebot cannot start: %s", problem)
        return EXIT_FAILED
    limit_search_threads(settings.answer_threads)
    bot = make_bot(settings, make_engine(settings), **options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.shutdown()))
        except (NotImplementedError, RuntimeError):
            pass
    try:
        async with bot:
            await login_with_retries(bot, settings)
            await bot.connect()
    except discord.LoginFailure:
        log.error("Discord rejected the token. Check DISCORD_TOKEN in .env (Developer Portal → Bot → Reset Token).")
        return EXIT_FAILED
    except DiscordUnreachable as exc:
        log.error("citebot cannot start: %s", exc)
        return EXIT_FAILED
    except discord.ConnectionClosed as exc:
        log.debug("Gateway closed", exc_info=exc)
        if exc.code == 4004:
            log.error(
                "Discord rejected the token (4004). Check DISCORD_TOKEN in .env (Developer Portal → Bot → Reset Token)."
            )
        else:
            log.error(
                "Discord closed the connection with code %s and citebot cannot go on: %s",
                exc.code,
                exc.reason or "no reason given",
            )
        return EXIT_FAILED
    except discord.PrivilegedIntentsRequired:
        log.error(
            "Discord closed the connection (4014): MESSAGE_CONTENT_INTENT=true asks for the Message Content "
            "intent, which is not enabled for this application. Turn on Developer Portal → Bot → Privileged "
            "Gateway Intents → Message Content Intent, or set MESSAGE_CONTENT_INTENT=false."
        )
        return EXIT_INTENTS
    except CitebotError as exc:
        log.error("citebot cannot start: %s", exc)
        return EXIT_FAILED
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
    log.info("citebot stopped.")
    return EXIT_OK

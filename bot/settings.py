"""citebot's one settings object, read once from the environment and `.env`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from index.answer import AnswerPolicy
from index.embed import DEFAULT_MODEL
from index.engine import EngineConfig

PACKAGE_CORPUS = Path(__file__).resolve().parent.parent / "index" / "corpus" / "carney-beijing.txt"
REAL_DISCORD_API = "https://discord.com/api/v10"
REAL_DISCORD_GATEWAY = "wss://gateway.discord.gg"


class SettingsError(ValueError):
    """A setting has a value citebot cannot use; the message names the setting."""


def _default_index_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "citebot" / "index"


@dataclass(frozen=True)
class Settings:
    """Every knob citebot has. Field names match the environment variables, lower-cased."""

    discord_token: str = field(default="", repr=False)  # never printed
    discord_guild_id: int | None = None
    discord_api_base: str = REAL_DISCORD_API
    discord_gateway_url: str = REAL_DISCORD_GATEWAY
    sync_commands: str = "auto"
    embedding_model: str = DEFAULT_MODEL
    allow_model_download: bool = False
    index_dir: Path = Path()
    corpus_paths: tuple[Path, ...] = (PACKAGE_CORPUS,)
    min_confidence: float = AnswerPolicy.min_confidence
    coverage_weight: float = AnswerPolicy.coverage_weight
    max_citations: int = AnswerPolicy.max_citations
    approx_index_threshold: int = 50_000
    query_encoder: str = "auto"
    max_upload_bytes: int = 2_000_000
    ask_cooldown_seconds: float = 5.0
    max_concurrent_answers: int = 4
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
        """Read settings: the process environment wins over `.env`, which wins over defaults."""
        from dotenv import dotenv_values

        env: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {"index_dir": _default_index_dir(env)}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f.name, raw.strip())
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
        if self.max_concurrent_answers < 1:
            raise SettingsError("MAX_CONCURRENT_ANSWERS must be at least 1.")
        if self.max_upload_bytes < 1:
            raise SettingsError("MAX_UPLOAD_BYTES must be positive.")

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            index_dir=self.index_dir,
            corpus_paths=self.corpus_paths,
            model=self.embedding_model,
            policy=AnswerPolicy(
                min_confidence=self.min_confidence,
                coverage_weight=self.coverage_weight,
                max_citations=self.max_citations,
            ),
            approximate_from=self.approx_index_threshold,
            max_document_bytes=self.max_upload_bytes,
            query_encoder=self.query_encoder,
        )

    def apply_model_environment(self) -> None:
        """Keep Hugging Face libraries offline unless downloads are allowed."""
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        if not self.allow_model_download:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _parse(name: str, raw: str) -> Any:
    try:
        if name in ("discord_guild_id",):
            return int(raw)
        if name in ("max_citations", "approx_index_threshold", "max_upload_bytes", "max_concurrent_answers"):
            return int(raw)
        if name in ("min_confidence", "coverage_weight", "ask_cooldown_seconds"):
            return float(raw)
        if name == "allow_model_download":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if name == "index_dir":
            return Path(raw).expanduser()
        if name == "corpus_paths":
            return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip())
        if name == "log_level":
            return raw.upper()
        return raw
    except ValueError as exc:
        raise SettingsError(f"{name.upper()}={raw!r} is not valid: {exc}") from exc

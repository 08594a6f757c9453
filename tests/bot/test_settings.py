"""Settings are declared once: .env.example and the table in docs/settings.md must match the declarations."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from citebot.bot.settings import Settings, SettingsError, env_example, parse_setting, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_is_generated_from_the_settings() -> None:
    assert (ROOT / ".env.example").read_text("utf-8") == env_example()


def test_the_settings_table_in_docs_is_generated_from_the_settings() -> None:
    readme = (ROOT / "docs" / "settings.md").read_text("utf-8")
    block = re.search(r"<!-- settings:start[^>]*-->\n(.*?)<!-- settings:end -->", readme, re.DOTALL)
    assert block is not None and block.group(1) == settings_markdown()


def test_every_setting_is_documented_and_read_from_its_variable() -> None:
    for f in fields(Settings):
        assert f.metadata["doc"], f.name
    settings = Settings.from_env({"MAX_DOCUMENTS_PER_SERVER": "3", "DELETE_AFTER_LEAVE_DAYS": "0"}, env_file=None)
    assert settings.max_documents_per_server == 3 and settings.delete_after_leave_days == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAX_CONCURRENT_BUILDS", "0", "MAX_CONCURRENT_BUILDS must be at least 1."),
        ("DELETE_AFTER_LEAVE_DAYS", "-1", "DELETE_AFTER_LEAVE_DAYS must be 0 or more."),
        (
            "MAX_LIBRARY_BYTES",
            "lots",
            "MAX_LIBRARY_BYTES='lots' is not valid: invalid literal for int() with base 10: 'lots'",
        ),
    ],
)
def test_bad_values_name_their_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value}, env_file=None)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("declared", "raw", "parsed"),
    [
        (int, "3", 3),
        (float | None, "0.5", 0.5),  # a future optional setting parses by its type, not its spelling
        (int | None, "7", 7),
        (bool, "Yes", True),
        (bool | None, "off", False),
        (str, "auto", "auto"),
        (Path | None, "~/x", Path("~/x").expanduser()),
        (tuple[Path, ...], "a.txt:b.txt", (Path("a.txt"), Path("b.txt"))),
    ],
)
def test_settings_are_read_by_their_declared_type(declared: object, raw: str, parsed: object) -> None:
    assert parse_setting("a_setting", declared, raw) == parsed


def test_a_setting_of_a_type_without_a_rule_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="No rule"):
        parse_setting("a_setting", dict[str, int], "{}")


def test_shard_ids_name_the_shards_this_process_connects() -> None:
    def shards(**env: str) -> tuple[int, ...] | None:
        return Settings.from_env(env, env_file=None).owned_shards()

    assert shards() is None  # not sharded: one connection
    assert shards(SHARD_COUNT="4") == (0, 1, 2, 3)
    assert shards(SHARD_COUNT="8", SHARD_IDS="0-2, 6,2") == (0, 1, 2, 6)
    for env, message in (
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "must name shards from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1-0"}, "is not valid"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "is not valid"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be at least 1"),
    ):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env, env_file=None)


def test_a_fleet_process_waits_on_many_builds_at_once_the_workers_setting_the_pace() -> None:
    assert Settings.from_env({}, env_file=None).build_slots == 1
    fleet = Settings.from_env({"DATABASE_URL": "postgresql://db.internal/citebot"}, env_file=None)
    assert fleet.build_slots == 32

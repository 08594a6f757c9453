"""The conversation store's contract, run against each implementation; then what is SQLite's own,
and the /insights report built from a store.

A new implementation joins `IMPLEMENTATIONS` (and the `store` fixture) and passes the same tests.
The PostgreSQL one runs against the test database (tests/conftest.py: `postgres_dsn`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from citebot.bot.conversation_store import DAY, ConversationStore
from citebot.bot.insights_report import build_report, group_questions
from citebot.bot.sqlite_conversations import FILE_NAME, SqliteConversationStore
from citebot.index.answer import Answer, Citation, Exchange

from ..conftest import drop_connections

IMPLEMENTATIONS = ("sqlite", "postgres")

NOW = 1_800_000_000.0


def answer(question: str, *, abstained: bool = False, uncertain: bool = False) -> Answer:
    citations = () if abstained else (Citation(1, 3, "body", "A quote.", 1.0, "Doc", None, "abc123", 4, 0),)
    return Answer(question, "", abstained, citations, None, 1.0, uncertain=uncertain)


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConversationStore]:
    opened: ConversationStore
    if request.param == "postgres":
        from citebot.bot.postgres_conversations import PostgresConversationStore

        opened = PostgresConversationStore(request.getfixturevalue("postgres_dsn"))
    else:
        opened = SqliteConversationStore(tmp_path)
    yield opened
    opened.close()


def test_exchanges_are_kept_for_follow_ups(store: ConversationStore) -> None:
    store.record(message_id=10, server_id=1, channel_id=5, member_id=555, answer=answer("why?"), now=NOW)
    assert store.exchange(10) == Exchange("why?", (("abc123", 4),))
    assert store.exchange(11) is None
    store.record(message_id=10, server_id=1, channel_id=5, member_id=555, answer=answer("again?"), now=NOW)
    assert store.exchange(10) == Exchange("again?", (("abc123", 4),))  # the same message: replaced


def test_sqlite_keeps_members_only_as_salted_hashes(tmp_path: Path) -> None:
    store = SqliteConversationStore(tmp_path)
    store.record(message_id=10, server_id=1, channel_id=5, member_id=555, answer=answer("why?"), now=NOW)
    store.close()
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        (member,) = db.execute("SELECT member FROM exchanges").fetchone()
        assert "555" not in member and len(member) == 32
    again = SqliteConversationStore(tmp_path)  # the salt is kept: the same member hashes the same
    assert again.member_hash(555) == member
    other = SqliteConversationStore(tmp_path / "elsewhere")  # another installation, another salt
    assert other.member_hash(555) != member


def test_a_thread_goes_on_from_its_last_answer_or_the_one_it_started_from(store: ConversationStore) -> None:
    store.record(message_id=100, server_id=1, channel_id=5, member_id=1, answer=answer("first?"), now=NOW)
    assert store.in_thread(100) == Exchange("first?", (("abc123", 4),))  # thread started from answer 100
    store.record(message_id=101, server_id=1, channel_id=100, member_id=1, answer=answer("second?"), now=NOW + 1)
    assert store.in_thread(100) == Exchange("second?", (("abc123", 4),))


def test_one_vote_per_member_per_answer(store: ConversationStore) -> None:
    store.record(message_id=10, server_id=1, channel_id=5, member_id=1, answer=answer("why?"), now=NOW)
    assert store.vote(message_id=10, server_id=1, member_id=7, vote=1, now=NOW) is False
    assert store.vote(message_id=10, server_id=1, member_id=7, vote=1, now=NOW) is False  # the same again
    assert store.vote(message_id=10, server_id=1, member_id=7, vote=-1, now=NOW) is True  # changed
    store.vote(message_id=10, server_id=1, member_id=8, vote=-1, now=NOW)
    (asked,) = store.asked_since(1, NOW - DAY)
    assert (asked.downvotes, asked.upvotes) == (2, 0)


def test_old_questions_are_purged_and_a_server_can_be_forgotten(store: ConversationStore) -> None:
    store.record(message_id=1, server_id=1, channel_id=5, member_id=1, answer=answer("old?"), now=NOW - 31 * DAY)
    store.record(message_id=2, server_id=1, channel_id=5, member_id=1, answer=answer("new?"), now=NOW)
    store.record(message_id=3, server_id=2, channel_id=6, member_id=1, answer=answer("other?"), now=NOW)
    store.vote(message_id=1, server_id=1, member_id=1, vote=-1, now=NOW - 31 * DAY)
    store.set_ask_channel(1, 42)
    assert store.purge_older_than(30, now=NOW) == 2
    assert [a.question for a in store.asked_since(1, 0)] == ["new?"]
    assert store.forget_server(1) == 1
    assert store.asked_since(1, 0) == [] and [a.question for a in store.asked_since(2, 0)] == ["other?"]
    assert store.config(1).ask_channel == 42  # settings stay until the server itself is forgotten
    store.forget_server(1, settings_too=True)
    assert store.config(1).ask_channel is None


def test_server_settings(store: ConversationStore) -> None:
    store.set_forum(1, 900, True)
    store.set_forum(1, 901, True)
    store.set_forum(1, 900, False)
    store.set_ask_channel(1, 42)
    config = store.config(1)
    assert config.forums == frozenset({901}) and config.ask_channel == 42
    assert store.config(2).forums == frozenset()


def test_near_duplicate_questions_are_grouped_in_their_most_common_wording() -> None:
    grouped = group_questions(
        [
            "What is the capital of Australia?",
            "what is the capital of australia?",
            "whats the capital of australia",
            "what is the capital of Australia?",
            "who won the world cup?",
            "capital of austria?",
        ]
    )
    assert grouped[0] == ("What is the capital of Australia?", 4)
    assert ("who won the world cup?", 1) in grouped and ("capital of austria?", 1) in grouped


def test_the_report_counts_outcomes_and_lists_downvoted_answers(store: ConversationStore) -> None:
    outcomes = [answer("a?"), answer("b?", abstained=True), answer("b?", abstained=True), answer("c?", uncertain=True)]
    for number, given in enumerate(outcomes, start=1):
        store.record(message_id=number, server_id=1, channel_id=5, member_id=1, answer=given, now=NOW)
    store.vote(message_id=1, server_id=1, member_id=2, vote=-1, now=NOW)
    report = build_report(store.asked_since(1, 0), 7)
    assert (report.asked, report.answered, report.abstained, report.uncertain) == (4, 1, 2, 1)
    assert report.answered_share == 0.25
    assert report.unanswered == (("b?", 2), ("c?", 1))
    assert report.downvoted == (("a?", 1, 0),)


def test_questions_are_counted_per_server_since_a_time_with_their_outcome(store: ConversationStore) -> None:
    store.record(message_id=1, server_id=1, channel_id=5, member_id=1, answer=answer("first?"), now=NOW - 2 * DAY)
    store.record(
        message_id=2, server_id=1, channel_id=5, member_id=1, answer=answer("second?", abstained=True), now=NOW
    )
    store.record(message_id=3, server_id=None, channel_id=9, member_id=1, answer=answer("in a DM?"), now=NOW)
    store.record(message_id=4, server_id=2, channel_id=6, member_id=1, answer=answer("other?"), now=NOW)
    assert [(a.question, a.outcome, a.message_id) for a in store.asked_since(1, 0)] == [
        ("first?", "answered", 1),
        ("second?", "abstained", 2),
    ]
    assert [a.question for a in store.asked_since(1, NOW - DAY)] == ["second?"]
    assert [a.question for a in store.asked_since(2, 0)] == ["other?"]  # a DM is in no server's insights


def test_postgres_keeps_one_salt_for_every_process_and_upgrades_its_schema_once(postgres_dsn: str) -> None:
    import psycopg

    from citebot.bot.postgres_conversations import PostgresConversationStore
    from citebot.index.database import MIGRATIONS, schema_version, upgrade

    first, second = PostgresConversationStore(postgres_dsn), PostgresConversationStore(postgres_dsn)
    assert first.member_hash(555) == second.member_hash(555)  # two processes, one member
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert upgrade(conn) == []  # nothing left to apply
        assert schema_version(conn) == MIGRATIONS[-1].version
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
    first.close()
    second.close()


def test_postgres_carries_on_when_the_server_drops_its_connection(postgres_dsn: str) -> None:
    """A database restart or an operator's pg_terminate_backend costs no question: the pooled
    connection is checked before use and replaced."""
    import os

    from citebot.bot.postgres_conversations import PostgresConversationStore

    store = PostgresConversationStore(postgres_dsn)
    try:
        store.record(message_id=10, server_id=1, channel_id=5, member_id=555, answer=answer("why?"), now=NOW)
        assert drop_connections(postgres_dsn, f"citebot conversations {os.getpid()}") >= 1
        store.record(message_id=11, server_id=1, channel_id=5, member_id=555, answer=answer("how?"), now=NOW)
        assert store.exchange(10) == Exchange("why?", (("abc123", 4),))
        assert store.exchange(11) == Exchange("how?", (("abc123", 4),))
    finally:
        store.close()

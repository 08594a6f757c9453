"""What the bot remembers of its conversations, as an interface: exchanges, votes, per-server
settings, the questions /insights reads, and retention.

Members are stored only as a salted hash. Questions and votes are kept KEEP_QUESTIONS_DAYS days;
server settings until the server is forgotten. `sqlite_conversations.SqliteConversationStore` is
the first implementation. A store is used from one thread at a time (see ConversationService).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from citebot.index.answer import Answer, Exchange

DAY = 86_400.0


def outcome_of(answer: Answer) -> str:
    if answer.summary:
        return "summary"
    if answer.abstained:
        return "abstained"
    return "uncertain" if answer.uncertain else "answered"


@dataclass(frozen=True)
class Asked:
    """One question as /insights counts it."""

    question: str
    outcome: str
    message_id: int
    downvotes: int = 0
    upvotes: int = 0


@dataclass(frozen=True)
class ServerConfig:
    ask_channel: int | None = None
    forums: frozenset[int] = field(default_factory=frozenset)


def exchange_row(
    *, message_id: int, server_id: int | None, channel_id: int, member: str, answer: Answer, now: float | None
) -> tuple[Any, ...]:
    """An exchange as every store keeps it, in column order; the quoted paragraphs as JSON text."""
    return (
        message_id,
        server_id,
        channel_id,
        member,
        answer.question,
        outcome_of(answer),
        json.dumps([list(p) for p in answer.exchange().paragraphs]),
        time.time() if now is None else now,
    )


def exchange_of(question: str, paragraphs: list[Any]) -> Exchange:
    """A stored exchange (its question and [[document key, paragraph index], ...]) as the engine reads it."""
    return Exchange(question, tuple((str(key), int(index)) for key, index in paragraphs))


def hashed_member(salt: bytes, member_id: int) -> str:
    """A member as stored: a hash with the installation's secret salt, so ids cannot be read back."""
    return hashlib.sha256(salt + str(member_id).encode()).hexdigest()[:32]


class ConversationStore(Protocol):
    """Exchanges, votes and per-server settings, kept for follow-ups, /insights and /config."""

    def close(self) -> None: ...

    def record(
        self,
        *,
        message_id: int,
        server_id: int | None,
        channel_id: int,
        member_id: int,
        answer: Answer,
        now: float | None = None,
    ) -> None:
        """Remember an answer the bot sent (by its message id)."""
        ...

    def exchange(self, message_id: int) -> Exchange | None:
        """The exchange answered by the bot's message `message_id`, if it is remembered."""
        ...

    def in_thread(self, thread_id: int) -> Exchange | None:
        """What a message in a thread goes on from: the last answer in it, else the answer the thread
        was started from (a thread started from a message takes that message's id)."""
        ...

    def vote(
        self, *, message_id: int, server_id: int | None, member_id: int, vote: int, now: float | None = None
    ) -> bool:
        """Record a member's vote on an answer; True if it changed an earlier vote of theirs."""
        ...

    def asked_since(self, server_id: int, since: float) -> list[Asked]:
        """Every question asked in a server since `since`, oldest first, with the votes on its answer."""
        ...

    def forget_server(self, server_id: int, *, settings_too: bool = False) -> int:
        """Delete a server's questions and votes (and its settings when `settings_too`); rows deleted."""
        ...

    def purge_older_than(self, days: float, *, now: float | None = None) -> int:
        """Delete questions and votes older than `days`; rows deleted."""
        ...

    def config(self, server_id: int) -> ServerConfig: ...

    def set_ask_channel(self, server_id: int, channel_id: int | None) -> None: ...

    def set_forum(self, server_id: int, forum_id: int, enabled: bool) -> None: ...

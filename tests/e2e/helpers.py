"""What the e2e tests share: reading what the bot sent, and asking it over the loopback Discord."""

from __future__ import annotations

from typing import Any

from .fake_discord import FakeDiscord

RUPTURE = "ruptured in 2018"


def descriptions(message: dict[str, Any]) -> str:
    return "\n".join((e.get("description") or "") + (e.get("title") or "") for e in message.get("embeds") or [])


def replies_to(server: FakeDiscord, message_id: str) -> list[dict[str, Any]]:
    return [
        m for m in server.channel_messages() if str((m.get("message_reference") or {}).get("message_id")) == message_id
    ]


async def ask(server: FakeDiscord, question: str, **kwargs: Any) -> dict[str, Any]:
    token = await server.slash("ask", [{"name": "question", "type": 3, "value": question}], **kwargs)
    (followup,) = await server.wait_for(lambda: server.followups(token), timeout=30)
    return followup

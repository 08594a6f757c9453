"""The token never reaches a log line, whichever way a record carries it."""

from __future__ import annotations

import logging

from citebot.bot.client import TokenRedactor


def test_token_is_redacted_from_messages_and_arguments() -> None:
    redactor = TokenRedactor("secret.token.value")
    direct = logging.LogRecord("x", logging.INFO, __file__, 1, "login with secret.token.value failed", (), None)
    via_args = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "headers: %s", ({"Authorization": "Bot secret.token.value"},), None
    )
    for record in (direct, via_args):
        assert redactor.filter(record)
        assert "secret.token.value" not in record.getMessage()
        assert "[token]" in record.getMessage()
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "nothing to hide %d", (3,), None)
    redactor.filter(plain)
    assert plain.getMessage() == "nothing to hide 3"


def test_interaction_tokens_and_webhook_urls_are_redacted() -> None:
    redactor = TokenRedactor("secret.token.value")
    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OkxvbmdUb2tlblZhbHVlSGVyZQ"
    lines = [
        f'For Shard ID None: WebSocket Event: {{"t": "INTERACTION_CREATE", "d": {{"id": "1", "token": "{token}"}}}}',
        f"dispatching {{'id': '1', 'token': '{token}', 'type': 2}}",
        f"POST https://discord.com/api/v10/webhooks/4242/{token} with None has returned 200",
        f"POST https://discord.com/api/v10/interactions/998877/{token}/callback has returned 204",
    ]
    for line in lines:
        record = logging.LogRecord("discord.gateway", logging.DEBUG, __file__, 1, "%s", (line,), None)
        redactor.filter(record)
        assert token not in record.getMessage() and "[token]" in record.getMessage(), line

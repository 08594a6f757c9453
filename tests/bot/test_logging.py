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

"""Errors of the Discord layer, each with a message a member or admin can act on."""

from __future__ import annotations

from citebot.index.errors import CitebotError


class ShuttingDown(CitebotError):
    """The bot is stopping and takes no new work."""


class BuildBusy(CitebotError):
    """A change to this library is already running."""


class DiscordUnreachable(CitebotError):
    """Discord's API could not be reached at start-up, after retries."""

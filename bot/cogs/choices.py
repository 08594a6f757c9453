"""Autocomplete choices for a library's documents: this server's only, at most Discord's 25."""

from __future__ import annotations

from discord import app_commands

from citebot.index.library_info import DocumentInfo

from ..messages import trim

MAX_CHOICES = 25
CHOICE_NAME_LIMIT = 100


def document_choices(documents: tuple[DocumentInfo, ...], typed: str) -> list[app_commands.Choice[str]]:
    """Documents whose title or file name contains what was typed, best matches first."""
    needle = typed.casefold().strip()
    matches = [d for d in documents if not needle or needle in d.title.casefold() or needle in d.name.casefold()]
    matches.sort(key=lambda d: (not d.title.casefold().startswith(needle), d.title.casefold()))
    return [
        app_commands.Choice(name=trim(d.title or d.name, CHOICE_NAME_LIMIT), value=d.key)
        for d in matches[:MAX_CHOICES]
        if d.key
    ]

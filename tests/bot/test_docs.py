"""The pure helpers of /docs and Apps → Add to citebot library: titles and names for texts."""

from __future__ import annotations

from citebot.bot.cogs.docs import TITLE_MAX_CHARS, file_name, first_line_title
from citebot.bot.messages import came_from


def test_a_message_is_titled_by_its_first_line_without_markup_or_mentions() -> None:
    assert first_line_title("**Opening hours**\nThe boathouse opens at nine.") == "Opening hours"
    assert first_line_title("\n\n# <@123> Rules of the club\nrest") == "Rules of the club"
    assert first_line_title("> Quoted notice") == "Quoted notice"
    long = first_line_title("word " * 100)
    assert len(long) <= TITLE_MAX_CHARS and long.endswith("…")
    assert first_line_title("🎉🎉") == "A message"


def test_a_title_never_chooses_a_path() -> None:
    assert file_name("../../etc/passwd", ".txt") == ".. .. etc passwd.txt"
    assert file_name("Minutes: March", ".md") == "Minutes March.md"
    assert file_name("\x00/", ".txt") == "document.txt"


def test_where_a_document_came_from_is_said_plainly() -> None:
    assert came_from("rules.pdf") == "from rules.pdf"
    assert came_from("x.html", url="https://ex.org/a") == "from https://ex.org/a"
    assert came_from("Rules.txt", via="text") == "pasted text"
    link = "https://discord.com/channels/1/2/3"
    assert came_from("Hours.md", via="message", link=link) == f"from a Discord message ({link})"

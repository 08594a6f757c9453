"""Turn engine answers into Discord messages: escaped, mention-safe, within Discord's limits.

Pure functions: they build `discord.Embed` objects and strings, and never touch the network.
"""

from __future__ import annotations

import re

import discord

from index.answer import Answer
from index.documents import DocumentMeta

CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FIELD_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.light_grey()
ERROR_COLOUR = discord.Colour.red()

# Mentions Discord would render even when they do not ping: users, roles, channels, @everyone/@here.
_MENTION = re.compile(r"<(@[!&]?|#)(\d+)>|@(everyone|here)")
_SENTENCE_END = re.compile(r"[.!?][”’\"')\]]*\s")


def defuse_mentions(text: str) -> str:
    """Break every mention so it shows as text and cannot ping, whatever allowed_mentions says."""
    def breaker(match: re.Match[str]) -> str:
        if match.group(3):
            return "@\u200b" + match.group(3)
        return f"<{match.group(1)}\u200b{match.group(2)}>"

    return _MENTION.sub(breaker, text)


def safe_text(text: str) -> str:
    """User or document text made inert: markdown escaped and mentions broken."""
    return defuse_mentions(discord.utils.escape_markdown(text, as_needed=False))


def trim(text: str, limit: int) -> str:
    """Cut text to `limit` characters at a sentence end if one is near, else at a word, adding '…'."""
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window + " ")]
    if ends and ends[-1] >= limit // 2:
        return window[: ends[-1]].rstrip()
    cut = window.rfind(" ")
    if cut < limit // 2:
        cut = limit - 1
    return window[:cut].rstrip() + "…"


def source_line(meta: DocumentMeta | None) -> str:
    if meta is None:
        return ""
    return " · ".join(x for x in (meta.author, meta.date) if x)


def render_answer(answer: Answer) -> discord.Embed:
    """The embed for an answer: each quote with its paragraph, then the source."""
    if answer.abstained:
        return render_abstention(answer)
    quotes = [f"> {safe_text(c.text)}\n> — *{c.label}*" for c in answer.citations]
    description = _fit_quotes(quotes, DESCRIPTION_LIMIT)
    embed = discord.Embed(description=description, colour=ANSWER_COLOUR)
    if answer.source is not None:
        embed.title = trim(safe_text(answer.source.title), TITLE_LIMIT)
        footer = source_line(answer.source)
        if footer:
            embed.set_footer(text=trim(footer, FOOTER_LIMIT))
    embed.set_author(name=trim("Q: " + defuse_mentions(answer.question), TITLE_LIMIT))
    return embed


def render_abstention(answer: Answer) -> discord.Embed:
    title = answer.source.title if answer.source else "the indexed document"
    description = (
        f"The article doesn't answer that. I only quote what “{safe_text(title)}” actually says, "
        "so I'd rather say nothing than guess.\n\nTry asking about something the article covers."
    )
    embed = discord.Embed(description=trim(description, DESCRIPTION_LIMIT), colour=ABSTAIN_COLOUR)
    embed.set_author(name=trim("Q: " + defuse_mentions(answer.question), TITLE_LIMIT))
    return embed


def _fit_quotes(quotes: list[str], limit: int) -> str:
    """Join whole quotes while they fit; trim the first one at a sentence if even it does not."""
    kept: list[str] = []
    for quote in quotes:
        candidate = "\n\n".join([*kept, quote])
        if len(candidate) > limit:
            break
        kept.append(quote)
    if not kept:
        return trim(quotes[0], limit)
    return "\n\n".join(kept)


def render_about(meta: DocumentMeta | None, *, paragraphs: int, sentences: int, model: str, built_at: str,
                 index_type: str) -> discord.Embed:
    """What the bot knows and how to ask it."""
    embed = discord.Embed(title="What I know", colour=ANSWER_COLOUR)
    if meta is not None:
        embed.add_field(name="Document", value=trim(safe_text(meta.title), FIELD_LIMIT), inline=False)
        embed.add_field(name="Author", value=trim(safe_text(meta.author or "not stated"), FIELD_LIMIT))
        embed.add_field(name="Date", value=trim(safe_text(meta.date or "not stated"), FIELD_LIMIT))
    embed.add_field(name="Indexed", value=f"{paragraphs} paragraphs · {sentences} sentences", inline=False)
    embed.add_field(name="Model", value=trim(safe_text(model), FIELD_LIMIT))
    embed.add_field(name="Built", value=f"{built_at} ({index_type})")
    embed.add_field(
        name="How to ask",
        value="Use `/ask question:` or mention me with your question. I answer only with sentences quoted "
        "from the document, each marked with its paragraph, and I say so when it does not answer.",
        inline=False,
    )
    return embed


def render_notice(text: str) -> str:
    """A short status or error line, safe and within the content limit."""
    return trim(defuse_mentions(text), CONTENT_LIMIT)

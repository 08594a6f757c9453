"""Turn engine answers into Discord messages: escaped, mention-safe, within Discord's limits.

Pure functions: they build `discord.Embed` objects and strings, and never touch the network.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import discord

from citebot.index.answer import Answer, Citation
from citebot.index.documents import DocumentMeta, QuotedParagraph
from citebot.index.formats import strip_controls
from citebot.index.library_info import DocumentInfo, LibraryInfo

from . import messages
from .conversation_store import ServerConfig
from .insights_report import InsightsReport
from .messages import citation_label, quote_link, short_title, trim

CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FIELD_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.light_grey()
UNCERTAIN_COLOUR = discord.Colour.gold()
ERROR_COLOUR = discord.Colour.red()

# Markup Discord renders as something live even when it does not ping: user, role and channel
# mentions, slash-command mentions (</name:id>), timestamps (<t:…>), guild navigation (<id:…>),
# and @everyone/@here.
_MENTION = re.compile(r"<(@[!&]?|#|/|t:|id:)(?=[\w:-]*>)|@(everyone|here)")


def defuse_mentions(text: str) -> str:
    """Break every mention so it shows as text and cannot ping, whatever allowed_mentions says."""

    def breaker(match: re.Match[str]) -> str:
        if match.group(2):
            return "@\u200b" + match.group(2)
        return f"<{match.group(1)}\u200b"

    return _MENTION.sub(breaker, strip_controls(text))


def safe_text(text: str) -> str:
    """User or document text made inert: markdown escaped and mentions broken."""
    return defuse_mentions(discord.utils.escape_markdown(text, as_needed=False))


def source_line(meta: DocumentMeta | None) -> str:
    if meta is None:
        return ""
    return " · ".join(x for x in (meta.author, meta.date) if x)


def render_answer(answer: Answer) -> discord.Embed:
    """The embed for an answer: each quote with its paragraph (and document), then the source."""
    if answer.abstained:
        return render_abstention(answer)
    several = len({c.document for c in answer.citations}) > 1 or answer.source is None
    quotes = [f"> {safe_text(c.text)}\n> — *{_linked_label(c, several)}*" for c in answer.citations]
    heading, note, colour = "", "", ANSWER_COLOUR
    if answer.summary:
        heading = f"**{messages.SUMMARY_HEADING}**\n\n"
    elif answer.uncertain:
        heading, note, colour = f"**{messages.CLOSEST}**\n\n", f"\n\n*{messages.CLOSEST_NOTE}*", UNCERTAIN_COLOUR
    description = heading + _fit_quotes(quotes, DESCRIPTION_LIMIT - len(heading) - len(note)) + note
    embed = discord.Embed(description=description, colour=colour)
    if answer.source is not None:
        embed.title = trim(safe_text(answer.source.title), TITLE_LIMIT)
        footer = source_line(answer.source)
        if footer:
            embed.set_footer(text=trim(footer, FOOTER_LIMIT))
    embed.set_author(name=trim("Q: " + defuse_mentions(answer.question), TITLE_LIMIT))
    return embed


def render_abstention(answer: Answer) -> discord.Embed:
    description = "\n\n".join(
        (safe_text(messages.not_answered(_searched(answer))), messages.ABSTAIN_EXPLANATION, messages.ABSTAIN_HINT)
    )
    embed = discord.Embed(description=trim(description, DESCRIPTION_LIMIT), colour=ABSTAIN_COLOUR)
    embed.set_author(name=trim("Q: " + defuse_mentions(answer.question), TITLE_LIMIT))
    return embed


def render_paragraph(found: QuotedParagraph, ordinal: int) -> discord.Embed:
    """A whole paragraph around a quote, the quoted sentence in bold (only the one who asked sees it)."""
    text = found.paragraph.text
    pieces: list[str] = []
    position = 0
    for number, sentence in enumerate(found.sentences):
        start = text.find(sentence, position)
        if start < 0:
            continue
        pieces.append(safe_text(text[position:start]))
        piece = safe_text(sentence)
        pieces.append(f"**{piece}**" if number == ordinal else piece)
        position = start + len(sentence)
    pieces.append(safe_text(text[position:]))
    embed = discord.Embed(description=trim("".join(pieces), DESCRIPTION_LIMIT), colour=ANSWER_COLOUR)
    embed.title = trim(safe_text(found.meta.title), TITLE_LIMIT)
    embed.set_footer(text=trim(found.paragraph.label, FOOTER_LIMIT))
    return embed


def render_insights(report: InsightsReport, keep_days: float) -> discord.Embed:
    """/insights: counts, then what went unanswered and what members rated 👎 (questions made inert)."""
    embed = discord.Embed(title=f"Questions in the last {report.days} days", colour=ANSWER_COLOUR)
    if not report.asked:
        embed.description = messages.INSIGHTS_NONE
    else:
        embed.description = (
            f"**{report.asked:,}** asked · **{report.answered_share:.0%}** answered "
            f"({report.answered:,}) · {report.uncertain:,} with the closest passage only · "
            f"{report.abstained:,} not answered"
        )
    if report.unanswered:
        lines = [f"{count}× {safe_text(trim(question, 150))}" for question, count in report.unanswered]
        embed.add_field(name="Most asked, not answered", value=trim("\n".join(lines), FIELD_LIMIT), inline=False)
    if report.downvoted:
        lines = [f"👎 {down} · 👍 {up} — {safe_text(trim(question, 150))}" for question, down, up in report.downvoted]
        embed.add_field(name="Answers rated 👎", value=trim("\n".join(lines), FIELD_LIMIT), inline=False)
    embed.set_footer(text=messages.insights_footer(keep_days))
    return embed


def render_config(config: ServerConfig, message_content: bool) -> discord.Embed:
    embed = discord.Embed(title="Where I answer here", colour=ANSWER_COLOUR)
    ask_channel = f"<#{config.ask_channel}>" if config.ask_channel else "none"
    forums = ", ".join(f"<#{f}>" for f in sorted(config.forums)) or "none"
    embed.add_field(name="Ask channel", value=ask_channel, inline=False)
    embed.add_field(name="Forums", value=forums, inline=False)
    if not message_content and (config.ask_channel or config.forums):
        embed.add_field(name="Not active", value=messages.NEEDS_MESSAGE_CONTENT, inline=False)
    return embed


def _linked_label(citation: Citation, several: bool) -> str:
    """The citation's label; for a web page, a link that opens the page at the quoted sentence."""
    label = safe_text(citation_label(citation, with_document=several))
    if not citation.url:
        return label
    return f"[{label}]({quote_link(citation.url, citation.text, citation.page)})"


def _searched(answer: Answer) -> tuple[str, ...]:
    if answer.searched_titles:
        return answer.searched_titles
    return (answer.source.title,) if answer.source else ()


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


def model_name(model: str) -> str:
    """A model as members may see it: a hub name as it is, a local folder by its last part only."""
    if model.startswith(("/", "~", ".")) or "\\" in model:
        return PurePath(model.replace("\\", "/")).name or "a local model"
    return model


def render_about(summary: LibraryInfo) -> discord.Embed:
    """What the bot knows here and how to ask it."""
    embed = discord.Embed(title="What I know", colour=ANSWER_COLOUR)
    if len(summary.documents) == 1:
        only = summary.documents[0]
        embed.add_field(name="Document", value=trim(safe_text(only.title), FIELD_LIMIT), inline=False)
        embed.add_field(name="Author", value=trim(safe_text(only.author or "not stated"), FIELD_LIMIT))
        embed.add_field(name="Date", value=trim(safe_text(only.date or "not stated"), FIELD_LIMIT))
    else:
        embed.add_field(
            name=f"Documents ({len(summary.documents)})",
            value=_document_lines(summary.documents, FIELD_LIMIT),
            inline=False,
        )
    embed.add_field(
        name="Indexed", value=f"{summary.paragraphs} paragraphs · {summary.sentences} sentences", inline=False
    )
    embed.add_field(name="Model", value=trim(safe_text(model_name(summary.model)), FIELD_LIMIT))
    embed.add_field(name="Built", value=f"{summary.built_at} ({summary.index_type})")
    embed.add_field(name="How to ask", value=messages.HOW_TO_ASK, inline=False)
    if summary.is_default:
        embed.set_footer(text=messages.DEFAULT_LIBRARY_FOOTER)
    return embed


def _document_lines(documents: tuple[DocumentInfo, ...], limit: int) -> str:
    lines = [f"• {safe_text(short_title(d.title))}" for d in documents]
    text = "\n".join(lines)
    return text if len(text) <= limit else trim(text, limit)


def render_document_list(summary: LibraryInfo) -> discord.Embed:
    """/docs list: each document with its author, date, length, who added it, when and from where."""
    lines = [
        messages.document_line(
            safe_text(d.title),
            safe_text(d.author) if d.author else None,
            safe_text(d.date) if d.date else None,
            d.paragraphs,
            messages.came_from(safe_text(d.name), url=d.url, via=d.via, link=d.link),
            safe_text(d.added_by) if d.added_by else None,
            d.added_at,
        )
        for d in summary.documents
    ]
    if summary.is_default:
        lines.insert(0, messages.NO_OWN_DOCUMENTS)
    embed = discord.Embed(
        title=messages.DOCUMENTS_TITLE, description=_fit_quotes(lines, DESCRIPTION_LIMIT), colour=ANSWER_COLOUR
    )
    return embed


def render_notice(text: str) -> str:
    """A short status or error line, safe and within the content limit."""
    return trim(defuse_mentions(text), CONTENT_LIMIT)

"""Every sentence a member or admin sees, and the one function that turns an error into a reply.

Keeping the wording here means it is consistent across /ask, mentions, /docs, /reindex and the
terminal, and each message is asserted exactly in tests/bot/test_messages.py.
"""

from __future__ import annotations

import logging
import re
from enum import Enum
from urllib.parse import quote

from citebot.index.answer import Citation
from citebot.index.errors import BuildCancelled, CitebotError, DocumentRejected, QuestionRejected, UnknownDocument

from .errors import ShuttingDown

log = logging.getLogger(__name__)

EXAMPLE_QUESTION = "why did relations rupture?"
SHORT_TITLE = 48  # characters of a document's title shown beside each citation
_SENTENCE_END = re.compile(r"[.!?][”’\"')\]]*\s")


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


def short_title(title: str, limit: int = SHORT_TITLE) -> str:
    """A document's title cut at a word, to name it beside a citation."""
    return trim(title, limit)


def citation_label(citation: Citation, *, with_document: bool) -> str:
    """Where a quote stands: "¶3", or "Short title, ¶3" when an answer quotes several documents."""
    if with_document and citation.document:
        return f"{short_title(citation.document)}, {citation.label}"
    return citation.label


_URL_SAFE = ":/?&=%+@;~.,!*'"
_FRAGMENT_WHOLE = 120  # quote a sentence up to this long whole in the link; longer: its first and last words


_DISCORD_MESSAGE = re.compile(r"^https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/[0-9@me]+/\d+/\d+$")


def quote_link(url: str, sentence: str, page: int | None = None) -> str:
    """A link that opens `url` at the quote: a PDF at its page (#page=N), a web page scrolled to
    the sentence, highlighted (a text fragment, #:~:text=); a Discord message as it is."""
    if _DISCORD_MESSAGE.match(url):
        return url
    address = quote(url.split("#", 1)[0], safe=_URL_SAFE)
    if page:
        return f"{address}#page={page}"
    words = sentence.split()
    if len(sentence) <= _FRAGMENT_WHOLE or len(words) < 12:
        fragment = _fragment_part(sentence)
    else:
        fragment = _fragment_part(" ".join(words[:6])) + "," + _fragment_part(" ".join(words[-6:]))
    return f"{address}#:~:text={fragment}"


def _fragment_part(text: str) -> str:
    # The spec reserves "-", "," and "&" in a fragment: percent-encoded like everything but letters.
    return quote(text, safe="").replace("-", "%2D")


# ---- answers ------------------------------------------------------------------------------
ABSTAIN_EXPLANATION = "I only quote what the documents actually say, so I'd rather say nothing than guess."
ABSTAIN_HINT = "Try asking about something the documents cover."
# An answer the ranking is not sure of: shown as the nearest passage, never as the answer.
CLOSEST = "The closest the document comes:"
CLOSEST_NOTE = "I'm not sure this answers your question; it is the nearest passage I found."
STILL_LOADING = "My index is still loading; try again in a moment."
SUMMARY_HEADING = "In the document's own words:"
SHOW_PARAGRAPH = "Show {label}"
PARAGRAPH_GONE = "That paragraph is no longer in this server's library (the document was changed or removed)."
VOTE_THANKS = {1: "Thanks — noted 👍.", -1: "Thanks — noted 👎. Admins see answers that missed in /insights."}
VOTE_CHANGED = {1: "Changed your vote to 👍.", -1: "Changed your vote to 👎."}
BOTS_DO_NOT_VOTE = "Votes from bots are not counted."
NO_QUESTION_IN_MESSAGE = "That message has no question in words for me to answer."
ANSWERED_IN_REPLY = "Answered in a reply to that message."
HOW_TO_ASK = (
    "Use `/ask question:` or mention me with your question. I answer only with sentences quoted "
    "from the documents, each marked with its paragraph, and I say so when they do not answer."
)


def not_answered(titles: tuple[str, ...]) -> str:
    """The one wording for "the document does not answer that", in Discord and the terminal."""
    if len(titles) == 1:
        return f"Not in the article: “{titles[0]}” doesn't answer that."
    if not titles:
        return "Not in the article: the indexed document doesn't answer that."
    return f"Not in the documents: none of the {len(titles)} documents here answers that."


def ask_prompt(bot_name: str) -> str:
    return f"Ask me something about the article, e.g. “@{bot_name} {EXAMPLE_QUESTION}”"


def cooldown(seconds: float) -> str:
    return f"You're asking quickly — try again in {max(1, round(seconds))} s."


# ---- permissions and commands ---------------------------------------------------------------
NEEDS_MANAGE_SERVER = "Only members with the Manage Server permission can do that."
SERVER_ONLY = "That command only works in a server."
NOT_HERE = "You can't use that command here."
SOMETHING_WENT_WRONG = "Sorry, something went wrong. It has been logged."


def input_does_not_fit(detail: str) -> str:
    return f"That input doesn't fit: {detail}. Questions can be up to 1,000 characters."


# ---- /config and /insights -----------------------------------------------------------------
NEEDS_MESSAGE_CONTENT = (
    "To answer every message in a channel I need to read messages that do not mention me, which takes "
    "Discord's Message Content intent. The bot's owner has to turn on Developer Portal → Bot → Privileged "
    "Gateway Intents → Message Content Intent, and set MESSAGE_CONTENT_INTENT=true for citebot, then restart it."
)
ASK_CHANNEL_CLEARED = "There is no ask channel any more; members ask with /ask or by mentioning me."
FORGOTTEN_NONE = "There was nothing to forget: no questions are stored for this server."
FORGET_CONFIRM = (
    "This deletes every stored question, answer record and vote of this server, for good: "
    "/insights will start from nothing. Forget them?"
)
FORGET_CANCELLED = "Nothing was forgotten."
FORGET_EXPIRED = "Nothing was forgotten: the confirmation expired. Run /insights forget again to forget."
INSIGHTS_NONE = "No questions were asked here in that time."


def insights_footer(keep_days: float) -> str:
    return (
        f"Questions and votes are kept {keep_days:g} days; members are stored only as salted hashes. "
        "/insights forget deletes them now."
    )


def ask_channel_set(channel: str) -> str:
    return f"Every message in {channel} is now a question for me; I answer each in a reply."


def forum_set(forum: str, enabled: bool) -> str:
    if enabled:
        return f"I'll answer each new post in {forum}, in its thread."
    return f"I no longer answer new posts in {forum}."


def forgotten(rows: int) -> str:
    return f"Forgotten: every stored question, answer record and vote of this server ({rows:,} records)."


# ---- builds (/reindex, /docs add, /docs remove) ------------------------------------------------
DOWNLOADING = "Downloading the document…"
FETCHING = "Fetching the page…"
FILE_OR_URL = "Give one of: a file, a url, or text:True to type or paste the text in a form."
PASTE_FORM_TITLE = "Add text to this server's library"
MESSAGE_FORM_TITLE = "Add this message to the library"
ADD_MESSAGE_COMMAND = "Add to citebot library"
MESSAGE_HAS_NOTHING = (
    "That message has no text and no .txt, .md, .html, .pdf or .docx file to add to this server's library."
)
PARSING = "Reading and cleaning the document…"
RELATING = "Finding the document's related words…"
WRITING = "Writing the new index…"
WORKING = "Working…"
BUILD_BUSY = "A change to this server's library is still running; try again when it finishes."
BUILD_FAILED = "Reindex failed unexpectedly (logged). The current index keeps serving."


def embedding(done: int, total: int) -> str:
    return f"Embedding sentences: {done:,} of {total:,}…"


def queued(position: int) -> str:
    return f"Waiting for other servers' builds to finish: {position} ahead of this one…"


def not_rebuilt(reason: str) -> str:
    return f"Not reindexed: {reason} The current index keeps serving."


def not_added(reason: str) -> str:
    return f"Not added: {reason} This server's library is unchanged."


def reindexed(
    titles: tuple[str, ...], paragraphs: int, sentences: int, seconds: float, changed: tuple[str, ...] = ()
) -> str:
    what = f"“{titles[0]}”" if len(titles) == 1 else f"{len(titles)} documents"
    pages = ""
    if changed:
        pages = f" Pages fetched again that changed: {', '.join(changed)}."
    return (
        f"Reindexed {what}: {paragraphs} paragraphs, {sentences} sentences, in {seconds:.1f} s.{pages} "
        "New questions use it now."
    )


def document_added(title: str, documents: int, seconds: float, skipped: list[str] | None = None) -> str:
    added = (
        f"Added “{title}”. This server's library now has {documents} document{'s' if documents != 1 else ''} "
        f"(indexed in {seconds:.1f} s); new questions use it now."
    )
    if skipped:
        added += f" Not added (not a document citebot reads): {', '.join(skipped)}."
    return added


def document_removed(title: str, documents: int) -> str:
    return f"Removed “{title}”. This server's library now has {documents} document{'s' if documents != 1 else ''}."


def last_document_removed(title: str) -> str:
    return f"Removed “{title}”, the last document of this server; questions here use the default library again."


RESTARTING = "I'm restarting; ask again in a minute."
BUILD_STOPPED_FOR_RESTART = "The bot is restarting, so the build was stopped; nothing was changed."
NO_OWN_DOCUMENTS = (
    "This server has no documents of its own yet, so I answer from the default library below. "
    "Admins add documents with /docs add."
)
DEFAULT_LIBRARY_FOOTER = "This server has no documents of its own: this is the default library."
DOCUMENTS_TITLE = "Documents I answer from here"


def document_line(
    title: str,
    author: str | None,
    date: str | None,
    paragraphs: int,
    name: str,
    added_by: str | None,
    added_at: str | None,
) -> str:
    """One document in /docs list: what it is, how long, who added it and where it came from."""
    return f"**{title}**\n{document_facts(author, date, paragraphs)}\n{document_origin(name, added_by, added_at)}"


def document_facts(author: str | None, date: str | None, paragraphs: int) -> str:
    return " · ".join(x for x in (author, date, f"{paragraphs} paragraphs") if x)


def came_from(name: str, *, url: str | None = None, via: str | None = None, link: str | None = None) -> str:
    """Where a document came from, as /docs list and the terminal say it."""
    if via == "text":
        return "pasted text"
    if via == "message":
        return f"from a Discord message ({link})" if link else "from a Discord message"
    return f"from {url or name}"


def document_origin(source: str, added_by: str | None, added_at: str | None) -> str:
    """`source` (see `came_from`), who added it and when."""
    origin = source
    if added_by or added_at:
        origin += f", added by {added_by or 'someone'}" + (f" on {added_at[:10]}" if added_at else "")
    return origin


def expired_fallback(mention: str, text: str) -> str:
    return f"{mention}: {text}"


# ---- errors -------------------------------------------------------------------------------------
class Context(Enum):
    """What the member was doing when the error happened; it chooses the wording."""

    COMMAND = "command"
    ANSWER = "answer"
    BUILD = "build"
    ADD = "add"


# A file path of the server (two or more /-separated parts from the root or home): never shown.
_SERVER_PATH = re.compile(r"(?:~|\.{1,2})?(?:/[\w.@+-]+){2,}/?")


def without_paths(text: str) -> str:
    """Text for Discord with the server's file paths taken out."""
    return _SERVER_PATH.sub("[a file on the server]", text)


def reply_for_error(error: BaseException, context: Context = Context.COMMAND) -> str:
    """The reply for any failure. Unexpected ones are logged with their traceback; their details
    never reach Discord, and no reply names a file path of the server."""
    return without_paths(_reply_for_error(error, context))


def _reply_for_error(error: BaseException, context: Context) -> str:
    from discord import app_commands  # here, so the terminal never imports discord.py

    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.MissingPermissions):
        return NEEDS_MANAGE_SERVER
    if isinstance(error, app_commands.NoPrivateMessage):
        return SERVER_ONLY
    if isinstance(error, app_commands.CheckFailure):
        return NOT_HERE
    if isinstance(error, app_commands.TransformerError):
        return input_does_not_fit(str(error.__cause__ or error))
    if isinstance(error, (QuestionRejected, BuildCancelled, ShuttingDown)):
        return str(error)
    if isinstance(error, UnknownDocument) and context is not Context.BUILD:
        return str(error)  # a document another library holds (or none does): not a failure
    if isinstance(error, CitebotError):
        if context is Context.ADD:
            return not_added(str(error))
        if context is Context.BUILD or isinstance(error, DocumentRejected):
            return not_rebuilt(str(error))
        if context is Context.ANSWER:
            return f"Sorry, I can't answer right now: {error}"
        return f"Sorry, I can't do that right now: {error}"
    log.error("Unexpected error (%s)", context.value, exc_info=error)
    return BUILD_FAILED if context in (Context.BUILD, Context.ADD) else SOMETHING_WENT_WRONG

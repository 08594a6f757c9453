"""Turn an uploaded or configured file (bytes) into plain text lines, refusing what is not text."""

from __future__ import annotations

import codecs
import json
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any, ClassVar

from .errors import DocumentRejected

TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm")
# Every kind of file citebot reads: text, PDF and Word.
DOCUMENT_EXTENSIONS = (*TEXT_EXTENSIONS, ".pdf", ".docx")
ACCEPTED_FILES = ".txt, .md, .html, .pdf or .docx"

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old Word (.doc) and other Office 97 files
OLD_WORD = "This is an old Word file (.doc); citebot reads .docx. Save it as .docx (File → Save As) and add that."

_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"PK\x03\x04": "a ZIP archive",
    b"%PDF": "a PDF",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the NUL bytes fall where UTF-16 text of Latin script puts them."""
    if len(data) < 4 or len(data) % 2:
        return None
    sample = data[:4096]
    even_zeros = sample[0::2].count(0) / (len(sample) / 2)
    odd_zeros = sample[1::2].count(0) / (len(sample) / 2)
    if odd_zeros > 0.3 and even_zeros < 0.05:
        return "utf-16-le"
    if even_zeros > 0.3 and odd_zeros < 0.05:
        return "utf-16-be"
    return None


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode bytes: a BOM, else the charset the file declares, else UTF-8 (UTF-16 recognised
    without a BOM too), falling back to Windows-1252; refuse binary data."""
    if not data.strip():
        raise DocumentRejected("The file is empty.")
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise DocumentRejected(f"The file is {what}, not a document. Upload a {ACCEPTED_FILES} file.")
    utf16 = _utf16_without_bom(data) if b"\x00" in data[:4096] else None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="strict")
    elif utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            raise DocumentRejected("The file looks binary (it holds NUL bytes), not text.") from exc
    elif declared not in (None, "utf-8") and b"\x00" not in data:
        text = data.decode(str(declared), errors="replace")
    else:
        if b"\x00" in data:
            raise DocumentRejected("The file looks binary (it holds NUL bytes), not text.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError as exc:
                raise DocumentRejected("The file is neither UTF-8 nor Windows-1252/Latin-1 text.") from exc
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise DocumentRejected("The file looks binary (too many control characters), not text.")
    return normalise_text(text.replace("\r\n", "\n").replace("\r", "\n"))


# C0 and C1 controls (but tab and newline), bidi embeddings, overrides and isolates, and the BOM:
# invisible, and able to reorder or recolour what a terminal or Discord shows.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    # OSC, DCS, SOS, PM, APC (a window title, a hyperlink...): their text goes too, up to the
    # terminator (BEL or ST), or the end of the line when there is none.
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"  # any other escape: ESC, its intermediates, its final character
)


def strip_controls(text: str) -> str:
    """Text with terminal escape sequences, control and bidi-override characters removed."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def normalise_text(text: str) -> str:
    """What citebot indexes and quotes: NFC, no soft hyphens, no control or bidi-override characters.

    Citations are exact substrings of a document after this normalisation (and after ingest folds
    runs of whitespace within a line)."""
    return unicodedata.normalize("NFC", strip_controls(text).replace("\u00ad", ""))


class _TextExtractor(HTMLParser):
    """Collect visible text as lines, skipping scripts, styles and page chrome elements."""

    _SKIP: ClassVar[frozenset[str]] = frozenset(
        {"script", "style", "noscript", "template", "svg", "nav", "footer", "head", "form", "button"}
    )
    _BLOCK: ClassVar[frozenset[str]] = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "header",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "li",
            "ul",
            "ol",
            "br",
            "tr",
            "table",
            "figure",
            "figcaption",
            "blockquote",
            "pre",
            "main",
            "aside",
            "time",
            "address",
            "hr",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self._skip_depth = 0
        self._in_title = False
        self._in_h1 = False
        self.h1: str | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        if tag == "title":
            self._in_title = True
        if tag == "h1":
            self._in_h1 = True
        if tag in self._BLOCK:
            self._parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self._BLOCK:
            self._parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
            return
        if self._skip_depth:
            return
        if self._in_h1:
            self.h1 = (self.h1 or "") + data
        self._parts.append(data)

    def text(self) -> str:
        raw = "".join(self._parts)
        lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in raw.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML page, one block per paragraph, and its title if it has one."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    title = (parser.h1 or parser.title or "").strip() or None
    return parser.text(), title


_MD_HEADING = re.compile(r"^#{1,6}\s+")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def markdown_to_text(md: str) -> str:
    """Markdown without heading marks, links or emphasis markers, so quotes read as plain prose."""
    out = []
    for line in md.split("\n"):
        line = _MD_HEADING.sub("", line)
        line = _MD_LINK.sub(r"\1", line)
        line = _MD_EMPHASIS.sub(r"\2", line)
        out.append(line)
    return "\n".join(out)


def looks_like_html(name: str, text: str) -> bool:
    suffix = PurePath(name).suffix.lower()
    if suffix in (".html", ".htm"):
        return True
    head = text[:1000].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in its first 4 KB (meta charset or http-equiv), if Python knows it."""
    found = _META_CHARSET.search(data[:4096])
    if not found:
        return None
    try:
        return codecs.lookup(found.group(1).decode("ascii")).name
    except LookupError:
        return None


@dataclass(frozen=True)
class PlainText:
    """A file's text with its markup gone, and what the markup declared about it."""

    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    # For paged documents (PDF): the page each line of `text` is on (0 for a blank line).
    line_pages: tuple[int, ...] | None = None


def document_kind(name: str, data: bytes) -> str:
    """ "pdf", "docx" or "text": what the bytes are, by their content first and their name second."""
    suffix = PurePath(name).suffix.lower()
    if suffix == ".doc" or data.startswith(OLE_MAGIC):
        raise DocumentRejected(OLD_WORD)
    if data.lstrip().startswith(PDF_MAGIC) or (suffix == ".pdf" and PDF_MAGIC in data[:1024]):
        return "pdf"
    if suffix == ".pdf":
        raise DocumentRejected("This file is named .pdf but is not a PDF.")
    if suffix == ".docx":
        if not data.startswith(ZIP_MAGIC):
            raise DocumentRejected("This file is named .docx but is not a Word document.")
        return "docx"
    if data.startswith(ZIP_MAGIC) and b"word/" in data[:65536]:
        return "docx"
    return "text"


def to_plain_text(name: str, data: bytes) -> PlainText:
    """Decode a file and strip its markup: for HTML, the article as trafilatura extracts it."""
    html_name = PurePath(name).suffix.lower() in (".html", ".htm")
    declared = declared_charset(data) if html_name or b"<html" in data[:2048].lower() else None
    text = decode_text(data, declared)
    if looks_like_html(name, text):
        return html_article(text)
    if PurePath(name).suffix.lower() in (".md", ".markdown"):
        return PlainText(markdown_to_text(text))
    return PlainText(text)


_SCRIPT = re.compile(r"<script\b", re.IGNORECASE)
_MIN_ARTICLE_WORDS = 40
_SCRIPT_SHELL_WORDS = 15  # a page with scripts and fewer visible words is an app shell, not an article


_JSON_LD = re.compile(r"<script[^>]+application/ld\+json[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL)


def structured_data(html: str) -> dict[str, str]:
    """Title, author and date from a page's JSON-LD (schema.org Article and its kinds), if it has some."""
    found: dict[str, str] = {}
    for block in _JSON_LD.findall(html)[:5]:
        try:
            data = json.loads(block)
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict):
                continue
            author = item.get("author")
            if isinstance(author, list) and author:
                author = author[0]
            if isinstance(author, dict):
                author = author.get("name")
            for key, value in (
                ("title", item.get("headline")),
                ("author", author),
                ("date", item.get("datePublished")),
            ):
                if isinstance(value, str) and value.strip() and key not in found:
                    found[key] = normalise_text(value.strip())[:300]
    if "date" in found:
        found["date"] = found["date"][:10]
    return found


def html_article(html: str) -> PlainText:
    """The main text of a page, one paragraph a line, with its title, author and date.

    trafilatura finds the article among menus, teasers, comments and footers, and reads the
    metadata from meta tags, structured data and <time>. A small page it declines is read whole;
    a page that is only scripts (its text written by JavaScript) is refused.
    """
    import trafilatura

    extracted: Any = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False, output_format="python"
    )
    fallback_text, fallback_title = html_to_text(html)
    text = normalise_text(extracted.text) if extracted is not None and extracted.text else ""
    if len(text.split()) < _MIN_ARTICLE_WORDS:
        text = fallback_text  # short pages: everything visible (furniture rules still apply)
    if len(text.split()) < _SCRIPT_SHELL_WORDS and _SCRIPT.search(html):
        raise DocumentRejected(
            "This page has no article text to read: it is built by scripts (or hidden behind a paywall or "
            "login), so citebot would only index its menus."
        )
    title = author = date = None
    if extracted is not None:
        title = normalise_text(extracted.title) if extracted.title else None
        author = normalise_text(extracted.author) if extracted.author else None
        date = extracted.date or None
    structured = structured_data(html)  # JSON-LD: where trafilatura left a field empty
    title = title or structured.get("title")
    author = author or structured.get("author")
    date = date or structured.get("date")
    paragraphs = "\n\n".join(line.strip() for line in text.split("\n") if line.strip())
    return PlainText(paragraphs, title or fallback_title, author, date)

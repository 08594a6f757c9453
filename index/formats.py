"""Turn an uploaded or configured file (bytes) into plain text lines, refusing what is not text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import PurePath
from typing import ClassVar

from .errors import DocumentRejected

TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm")

_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"PK\x03\x04": "a ZIP archive",
    b"%PDF": "a PDF",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (BOMs honoured), falling back to Windows-1252; refuse binary data."""
    if not data.strip():
        raise DocumentRejected("The file is empty.")
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise DocumentRejected(f"The file is {what}, not text. Upload a .txt, .md or .html file.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="strict")
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
    return text.replace("\r\n", "\n").replace("\r", "\n")


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


def to_plain_text(name: str, data: bytes) -> tuple[str, str | None]:
    """Decode a file and strip its markup; returns the text and a title the markup declared."""
    text = decode_text(data)
    if looks_like_html(name, text):
        return html_to_text(text)
    if PurePath(name).suffix.lower() in (".md", ".markdown"):
        return markdown_to_text(text), None
    return text, None

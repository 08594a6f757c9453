"""Plain data passed between ingest, the store and the answerer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Parts of a page besides the body. Body paragraphs are numbered from 1; the others carry 0.
FRONT_MATTER_PARTS = ("title", "standfirst", "caption", "byline", "note", "dateline")
BODY = "body"


def paragraph_label(part: str, number: int, page: int | None = None) -> str:
    """How a citation names where it stands: "¶3" for body paragraph 3, else the part ("title");
    in a paged document (PDF) with its page first: "p. 4, ¶3"."""
    where = f"¶{number}" if part == BODY else part
    return f"p. {page}, {where}" if page else where


@dataclass(frozen=True)
class Paragraph:
    """One kept block of the document: its part, its number (body only) and its verbatim text."""

    part: str
    number: int
    text: str
    page: int | None = None  # the page it starts on, in a paged document (PDF)

    @property
    def label(self) -> str:
        return paragraph_label(self.part, self.number, self.page)


@dataclass(frozen=True)
class Sentence:
    """The retrieval unit: a verbatim sentence and where it stands."""

    id: int
    paragraph_index: int  # position in Document.paragraphs
    part: str
    paragraph: int  # body paragraph number, 0 for front matter
    text: str

    @property
    def label(self) -> str:
        return paragraph_label(self.part, self.paragraph)


@dataclass(frozen=True)
class DocumentMeta:
    """What a reader asks about the document rather than its content."""

    title: str
    author: str | None = None
    date: str | None = None
    source_name: str = ""
    url: str | None = None  # the page it was fetched from, or the message it came from: quotes link there

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """A cleaned document: metadata, kept paragraphs and their sentences."""

    meta: DocumentMeta
    paragraphs: tuple[Paragraph, ...]
    sentences: tuple[Sentence, ...]
    dropped_lines: tuple[str, ...] = field(default=(), compare=False)

    @property
    def body_paragraph_count(self) -> int:
        return sum(1 for p in self.paragraphs if p.part == BODY)


@dataclass(frozen=True)
class QuotedParagraph:
    """A whole paragraph, to show around a quote: its document, its text, and its sentences in order."""

    meta: DocumentMeta
    paragraph: Paragraph
    sentences: tuple[str, ...]

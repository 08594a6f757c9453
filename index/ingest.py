"""Ingest: raw page text -> a clean Document of titled, numbered paragraphs and sentences.

Page furniture is dropped by the general rules in `furniture`; the article's own front matter
(title, standfirst, caption, byline, dateline) is kept and labelled, and body paragraphs are
numbered from 1 so citations stay stable between builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import PurePath

from .documents import BODY, Document, DocumentMeta, Paragraph, Sentence
from .errors import DocumentRejected
from .formats import PlainText, document_kind, to_plain_text
from .furniture import furniture_reason, split_credit
from .pdf import read_pdf
from .sentences import split_sentences
from .word import read_docx

_MONTH = (
    r"(Jan(uary)?|Feb(ruary)?|Mar(ch)?|Apr(il)?|May|June?|July?|Aug(ust)?|Sept?(ember)?|"
    r"Oct(ober)?|Nov(ember)?|Dec(ember)?)\.?"
)
_DATE = re.compile(rf"({_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})")
_DATELINE = re.compile(
    rf"^((published|updated|posted)( on)?:?\s+)?(\w+day,?\s+)?{_DATE.pattern}"
    r"([,\s]+(at\s+)?\d{1,2}(:\d{2})?\s*([ap]\.?m\.?)?(\s+[A-Z]{2,4})?)?\.?$",
    re.IGNORECASE,
)
_BYLINE = re.compile(
    r"^By\s+(?P<names>[A-Z][\w.'’-]+(?:[\s,]+(?:and\s+)?[A-Z][\w.'’-]+){0,8})"
    r"(?:\s*[,|·]\s*(?:(?:published|updated|posted)\s+)?(?P<date>\d{4}-\d{2}-\d{2}|[A-Z][a-z]{2,8}\.?\s+\d{1,2},?\s+\d{4}))?$"
)
_TERMINAL = (".", "!", "?", ":", ";", '"', "'", "”", "’", ")", "]")
_TITLE_MAX_WORDS = 25
_HEADER_SCAN = 12
_WRAP_MIN_CHARS = 50
# A sentence longer than this is quoted in word-bounded pieces so an answer stays short.
MAX_UNIT_CHARS = 600
# Raise whenever ingest or sentence splitting changes what a source turns into: cached
# embeddings of a source (index/build.py) are keyed by it.
INGEST_VERSION = 4


@dataclass
class _Block:
    lines: list[str] = field(default_factory=list)
    credited: set[int] = field(default_factory=set)  # positions of lines that carried a photo credit
    pages: list[int | None] = field(default_factory=list)  # the page of each line, in a paged document (PDF)


@dataclass(frozen=True)
class _RawParagraph:
    text: str
    credited: bool
    block: int
    page: int | None = None


def parse_document(
    text: str,
    source_name: str = "",
    declared_title: str | None = None,
    *,
    split: bool = True,
    declared_author: str | None = None,
    declared_date: str | None = None,
    line_pages: tuple[int, ...] | None = None,
) -> Document:
    """Clean a page's text into a Document, or raise DocumentRejected when no article is left.

    With split=False the sentences are left empty for the caller to fill with `split_paragraph`
    (the index build splits while it embeds). `line_pages` gives the page of each line of a paged
    document; each paragraph then remembers the page it starts on.
    """
    dropped: list[str] = []
    blocks = _kept_blocks(text, dropped, line_pages)
    paragraphs_raw: list[_RawParagraph] = []
    for number, block in enumerate(blocks):
        for para, credited, page in _join_wrapped(block):
            paragraphs_raw.append(_RawParagraph(para, credited, number, page))
    if not paragraphs_raw:
        raise DocumentRejected("No article text is left after removing page furniture.")

    title, paragraphs = _label_parts(paragraphs_raw, source_name, declared_title)
    if not any(p.part == BODY for p in paragraphs) and not any(
        p.part in ("standfirst", "note", "caption") for p in paragraphs
    ):
        raise DocumentRejected("No article text is left after removing page furniture.")

    bylines = (_BYLINE.match(p.text) for p in paragraphs if p.part == "byline")
    author = next((m.group("names") for m in bylines if m), None) or declared_author
    date = next((_date_of(p.text) for p in paragraphs if p.part == "dateline"), None) or declared_date
    sentences = [s for i, p in enumerate(paragraphs) for s in split_paragraph(p, i)] if split else []
    sentences = [replace(s, id=n) for n, s in enumerate(sentences)]
    meta = DocumentMeta(title=title, author=author, date=date, source_name=source_name)
    return Document(meta=meta, paragraphs=tuple(paragraphs), sentences=tuple(sentences), dropped_lines=tuple(dropped))


def load_document(name: str, data: bytes, *, split: bool = True, title: str | None = None) -> Document:
    """Decode, strip markup and clean one file's bytes (text, HTML, Markdown, PDF or Word).

    `title`, when given, is the document's title whatever the file says (pasted text, a message)."""
    plain = read_plain_text(name, data)
    return parse_document(
        plain.text,
        source_name=PurePath(name).name,
        declared_title=title or plain.title,
        split=split,
        declared_author=plain.author,
        declared_date=plain.date,
        line_pages=plain.line_pages,
    )


def read_plain_text(name: str, data: bytes) -> PlainText:
    """A file's text with its format gone: PDF and Word by their readers, the rest as text."""
    kind = document_kind(name, data)
    if kind == "pdf":
        return read_pdf(data)
    if kind == "docx":
        return read_docx(data)
    return to_plain_text(name, data)


def _kept_blocks(text: str, dropped: list[str], line_pages: tuple[int, ...] | None = None) -> list[_Block]:
    blocks: list[_Block] = []
    current = _Block()
    seen: set[str] = set()
    for number, raw_line in enumerate(text.split("\n")):
        line = " ".join(raw_line.replace("\u00a0", " ").split())
        page = line_pages[number] if line_pages is not None and number < len(line_pages) else None
        if not line:
            if current.lines:
                blocks.append(current)
            current = _Block()
            continue
        line, credit = split_credit(line)
        if credit:
            dropped.append(credit)
        if furniture_reason(line) is not None or line.casefold() in seen:
            dropped.append(line)
            # Text on either side of a dropped line is not contiguous in the source: never join it.
            if current.lines:
                blocks.append(current)
            current = _Block()
            continue
        seen.add(line.casefold())
        if credit:
            current.credited.add(len(current.lines))
        current.lines.append(line)
        current.pages.append(page)
    if current.lines:
        blocks.append(current)
    return _drop_name_labels(blocks, dropped)


def _drop_name_labels(blocks: list[_Block], dropped: list[str]) -> list[_Block]:
    """Drop a short label that the next line repeats (an author's name above "By <name>")."""
    flat = [(b, i) for b in blocks for i in range(len(b.lines))]
    labels = set()
    for (block, i), (next_block, j) in pairwise(flat):
        line, following = block.lines[i], next_block.lines[j]
        repeats = line in following and line != following and len(following.split()) <= len(line.split()) + 4
        if len(line.split()) <= 5 and not line.endswith(_TERMINAL) and repeats:
            labels.add((id(block), i))
            dropped.append(line)
    kept: list[_Block] = []
    for block in blocks:
        current = _Block()
        for i, line in enumerate(block.lines):
            if (id(block), i) in labels:  # split at the dropped label, as for any dropped line
                if current.lines:
                    kept.append(current)
                current = _Block()
                continue
            if i in block.credited:
                current.credited.add(len(current.lines))
            current.lines.append(line)
            current.pages.append(block.pages[i])
        if current.lines:
            kept.append(current)
    return kept


def _join_wrapped(block: _Block) -> list[tuple[str, bool, int | None]]:
    """Re-join prose that was hard-wrapped inside one block; keep complete lines apart."""
    paragraphs: list[tuple[str, bool, int | None]] = []
    for position, line in enumerate(block.lines):
        credited = position in block.credited
        # A caption whose credit was cut off ends there; nothing joins onto it.
        if paragraphs and not paragraphs[-1][1] and _continues(paragraphs[-1][0], line):
            text, was_credited, page = paragraphs[-1]
            paragraphs[-1] = (f"{text} {line}", was_credited or credited, page)
        else:
            paragraphs.append((line, credited, block.pages[position]))
    return paragraphs


def _continues(previous: str, line: str) -> bool:
    """Whether `line` carries on the sentence of `previous` (hard-wrapped prose)."""
    if previous.endswith(_TERMINAL) or _is_structural(line) or _BYLINE.match(previous) or _DATELINE.match(previous):
        return False
    if _is_list_item(previous):
        # A hard-wrapped list item goes on in lower case or after a comma; a new line after an item
        # that reads as a sentence of its own is the next paragraph.
        return line[:1].islower() or previous.endswith(",")
    if line[:1].islower():
        return True
    return len(previous) >= _WRAP_MIN_CHARS and not _is_title_case(previous)


def _is_title_case(line: str) -> bool:
    words = [w for w in line.split() if w[:1].isalpha()]
    return bool(words) and sum(w[0].isupper() for w in words) / len(words) >= 0.6


def _is_structural(line: str) -> bool:
    return bool(_BYLINE.match(line) or _DATELINE.match(line) or _is_list_item(line))


def _is_list_item(line: str) -> bool:
    return line.startswith(("- ", "* ", "• "))


def _label_parts(raw: list[_RawParagraph], source_name: str, declared_title: str | None) -> tuple[str, list[Paragraph]]:
    texts = [p.text for p in raw]
    first = texts[0]
    title_is_first = (
        len(first.split()) <= _TITLE_MAX_WORDS
        and not first.endswith((".", "!", "?"))
        and not _BYLINE.match(first)
        and not _DATELINE.match(first)
    )
    if declared_title and declared_title.strip() in texts[:3]:
        title_index: int | None = texts.index(declared_title.strip())
    else:
        # A title the page declared (HTML metadata) wins over guessing that the first line is one.
        title_index = 0 if title_is_first and not declared_title else None
    title = (
        texts[title_index]
        if title_index is not None
        else (declared_title or PurePath(source_name).stem or "Untitled document")
    )
    header_marks = [i for i, t in enumerate(texts[:_HEADER_SCAN]) if _BYLINE.match(t) or _DATELINE.match(t)]
    header_end = max(header_marks) if header_marks else (title_index if title_index is not None else -1)

    paragraphs: list[Paragraph] = []
    body_number = 0
    seen_standfirst = False
    for i, para in enumerate(raw):
        text = para.text
        following = raw[i + 1] if i + 1 < len(raw) else None
        if i == title_index:
            part = "title"
        elif i <= header_end:
            if _BYLINE.match(text):
                part = "byline"
            elif _DATELINE.match(text):
                part = "dateline"
            elif para.credited:
                part = "caption"
            elif not seen_standfirst:
                part, seen_standfirst = "standfirst", True
            elif following is not None and following.credited and following.block == para.block:
                part = "caption"  # an image's alt text just above its credited caption
            else:
                part = "note"
        else:
            body_number += 1
            paragraphs.append(Paragraph(BODY, body_number, text, para.page))
            continue
        paragraphs.append(Paragraph(part, 0, text, para.page))
    return title, paragraphs


def _date_of(dateline: str) -> str | None:
    match = _DATE.search(dateline)
    return match.group(0) if match else None


def split_paragraph(paragraph: Paragraph, index: int) -> list[Sentence]:
    """The sentences of the paragraph at position `index` (ids are left -1 for the caller)."""
    whole = paragraph.part in ("title", "byline", "dateline")
    pieces = [paragraph.text] if whole else split_sentences(paragraph.text)
    return [
        Sentence(-1, index, paragraph.part, paragraph.number, unit) for piece in pieces for unit in _cap_length(piece)
    ]


def _cap_length(sentence: str, limit: int = MAX_UNIT_CHARS) -> list[str]:
    """Split an over-long run-on sentence at word boundaries into verbatim pieces."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    start, length = 0, len(sentence)
    while length - start > limit:
        cut = sentence.rfind(" ", start, start + limit)
        if cut <= start:
            cut = start + limit
        piece = sentence[start:cut].strip()
        if piece:
            pieces.append(piece)
        start = cut
        while start < length and sentence[start] == " ":
            start += 1
    rest = sentence[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces

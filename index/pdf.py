"""PDF → paragraphs that read as the author wrote them, each with the page it starts on.

A PDF holds positioned runs of text, not paragraphs. PDFium (pypdfium2) gives each page's text
lines with their boxes; the rules here, which only look at those boxes and their text, turn them
back into prose:
- a line that repeats at the top or bottom of most pages (digits aside), and a lone page number,
  is page furniture and is not indexed;
- a page whose lines fall on both sides of an empty vertical gutter is read column by column;
- lines join into a paragraph until one ends short of the column though the next line's first
  word would have fitted, the next line is indented, set in another size, or follows a wider gap;
- a paragraph that runs on over a page or column break stays one paragraph;
- a word hyphenated at a line end is joined, unless the document also spells it with the hyphen.
Title, author and date come from the document's metadata when it has them, else from page 1.

PDFium is C++ and a PDF comes from anyone, so `read_pdf` reads it in a child process whose memory
and time are capped: a hostile file (a decompression bomb, a crash) costs a refusal, not the bot.
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from .errors import DocumentRejected
from .formats import PlainText, normalise_text

# Caps beyond the upload's byte size, so a small hostile file cannot cost unbounded time or memory.
MAX_PAGES = 2000
MAX_TEXT_CHARS = 5_000_000
MAX_SECONDS = 60.0
MAX_MEMORY_BYTES = 2 * 1024**3  # the reading process's address space
# PDFium is not thread-safe; every use in this process goes through this lock.
_PDFIUM = threading.Lock()

NO_TEXT = (
    "This PDF has no text to quote; it looks scanned (its pages are pictures of text). "
    "Add a PDF with a text layer (run it through OCR first), or the text itself."
)
ENCRYPTED = "This PDF is encrypted and needs a password; add an unencrypted copy."
NOT_A_PDF = "This file is not a readable PDF (it is damaged or not a PDF at all)."
TOO_COSTLY = "This PDF could not be read within citebot's limits on time and memory; it was not added."


@dataclass(frozen=True)
class TextLine:
    """One line of text on a page, in points from the page's top-left corner."""

    page: int  # 1-based
    x0: float
    top: float
    x1: float
    bottom: float
    text: str

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class PagedParagraph:
    text: str
    page: int


@dataclass(frozen=True)
class _Metadata:
    title: str | None
    author: str | None
    date: str | None


def read_pdf(data: bytes, *, max_seconds: float = MAX_SECONDS) -> PlainText:
    """The PDF's text, one paragraph a line, with the page each line starts on, read in a child
    process with capped memory and time."""
    command = [sys.executable, "-m", __name__, str(max_seconds)]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=max_seconds + 10, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DocumentRejected(TOO_COSTLY) from exc
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = None
    if done.returncode != 0 or not isinstance(result, dict):
        raise DocumentRejected(TOO_COSTLY)
    if "error" in result:
        raise DocumentRejected(str(result["error"]))
    return PlainText(
        str(result["text"]), result["title"], result["author"], result["date"], tuple(map(int, result["line_pages"]))
    )


def read_pdf_here(data: bytes, *, max_seconds: float = MAX_SECONDS) -> PlainText:
    """What `read_pdf` returns, read in this process (for the child, and to time extraction)."""
    lines, meta = pdfium_lines(data, max_seconds=max_seconds)
    paragraphs = paragraphs_from_lines(lines)
    if not paragraphs:
        raise DocumentRejected(NO_TEXT)
    title = meta.title or _title_from_first_page(lines, paragraphs)
    text = "\n\n".join(p.text for p in paragraphs)
    pages: list[int] = []
    for paragraph in paragraphs:
        pages.extend((paragraph.page, 0))
    return PlainText(text, title, meta.author, meta.date, tuple(pages[:-1]))


def pdfium_lines(data: bytes, *, max_seconds: float = MAX_SECONDS) -> tuple[list[TextLine], _Metadata]:
    """Every page's text lines as PDFium finds them, with the document's metadata."""
    import pypdfium2 as pdfium

    started = time.monotonic()
    lines: list[TextLine] = []
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise DocumentRejected(ENCRYPTED if "password" in str(exc).lower() else NOT_A_PDF) from exc
        try:
            pages = len(document)
            if pages > MAX_PAGES:
                raise DocumentRejected(f"This PDF has {pages:,} pages; citebot reads at most {MAX_PAGES:,}.")
            meta = _metadata(document.get_metadata_dict())
            characters = 0
            for number in range(pages):
                if time.monotonic() - started > max_seconds:
                    raise DocumentRejected(f"This PDF took over {max_seconds:.0f} s to read; it was not added.")
                page = document[number]
                try:
                    _, height = page.get_size()
                    textpage = page.get_textpage()
                    try:
                        segments = [
                            (rect, textpage.get_text_bounded(*rect))
                            for rect in (textpage.get_rect(i) for i in range(textpage.count_rects()))
                        ]
                    finally:
                        textpage.close()
                finally:
                    page.close()
                page_lines = list(_merge_segments(number + 1, height, segments))
                characters += sum(len(line.text) for line in page_lines)
                if characters > MAX_TEXT_CHARS:
                    raise DocumentRejected(
                        f"This PDF holds over {MAX_TEXT_CHARS:,} characters of text; citebot reads at most that."
                    )
                lines.extend(page_lines)
        finally:
            document.close()
    return lines, meta


# How PDFium and fonts mark a hyphen at a line end (PDFium's own mark is \x02).
_LINE_END_HYPHENS = ("\x02", "\u00ad", "\u2010")


def _clean(text: str) -> str:
    """A line's text with a line-end hyphen mark made a plain hyphen, then normalised."""
    text = " ".join(text.replace("\r", " ").replace("\n", " ").split())
    if text.endswith(_LINE_END_HYPHENS):
        text = text[:-1] + "-"
    return " ".join(normalise_text(text).split())


def _merge_segments(
    page: int, height: float, segments: Iterable[tuple[tuple[float, float, float, float], str]]
) -> Iterator[TextLine]:
    """PDFium's text rectangles (bottom-left origin) as lines: pieces of one line set in different
    fonts are joined; pieces far apart on the same baseline (two columns) are not."""
    pieces = []
    for (left, bottom, right, top), raw in segments:
        text = _clean(raw)
        if text:
            pieces.append(TextLine(page, left, height - top, right, height - bottom, text))
    pieces.sort(key=lambda p: (round(p.top / 2), p.x0))
    current: TextLine | None = None
    for piece in pieces:
        if current is not None and _same_line(current, piece):
            current = TextLine(
                page,
                current.x0,
                min(current.top, piece.top),
                piece.x1,
                max(current.bottom, piece.bottom),
                f"{current.text} {piece.text}",
            )
            continue
        if current is not None:
            yield current
        current = piece
    if current is not None:
        yield current


def _same_line(left: TextLine, right: TextLine) -> bool:
    overlap = min(left.bottom, right.bottom) - max(left.top, right.top)
    size = max(min(left.height, right.height), 1.0)
    gap = right.x0 - left.x1
    return overlap > 0.5 * size and -size < gap < 0.9 * size


def _metadata(info: dict[str, str]) -> _Metadata:
    """Title, author and date from the document information dictionary (placeholder titles ignored)."""
    title = normalise_text(info.get("Title", "") or "").strip()
    author = normalise_text(info.get("Author", "") or "").strip()
    found = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", info.get("CreationDate", "") or "")
    date = f"{found.group(1)}-{found.group(2) or '01'}-{found.group(3) or '01'}" if found else None
    return _Metadata(title[:300] if title and not _JUNK_TITLE.search(title) else None, author[:300] or None, date)


# Titles that tools write for a document nobody titled.
_JUNK_TITLE = re.compile(
    r"^(untitled|document\d*|microsoft word - .*|.*\.(docx?|pdf|odt|rtf|txt|tex|indd|qxd))$", re.IGNORECASE
)


# --- furniture: running headers, footers and page numbers ---

_PAGE_NUMBER = re.compile(r"^[-–—\s]*(page\s+)?(\d{1,4}|[ivxlcdm]{1,7})(\s*(of|/)\s*\d{1,4})?[-–—\s]*$", re.IGNORECASE)
_EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be furniture


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.casefold().split()))


def furniture(lines: Sequence[TextLine]) -> set[int]:
    """Positions in `lines` of running headers, footers and page numbers."""
    by_page: dict[int, list[int]] = {}
    for position, line in enumerate(lines):
        by_page.setdefault(line.page, []).append(position)
    edges: dict[int, list[tuple[str, int]]] = {}
    for page, positions in by_page.items():
        ordered = sorted(positions, key=lambda p: lines[p].top)
        top = ordered[:_EDGE_LINES]
        bottom = [p for p in ordered[-_EDGE_LINES:] if p not in top]
        edges[page] = [("top", p) for p in top] + [("bottom", p) for p in bottom]
    counts: Counter[tuple[str, str]] = Counter()
    for marks in edges.values():
        counts.update({(where, _shape(lines[p].text)) for where, p in marks})
    pages = len(by_page)
    repeated = max(2, int(0.4 * pages + 0.999))
    dropped = set()
    for marks in edges.values():
        for where, position in marks:
            text = lines[position].text
            if _PAGE_NUMBER.match(text) or (pages >= 2 and counts[(where, _shape(text))] >= repeated):
                dropped.add(position)
    return dropped


# --- reading order: columns ---

SPANNING = -1  # the column of a line that crosses a two-column page's gutter (a title, a wide table)


@dataclass(frozen=True)
class _Placed:
    line: TextLine
    column: int  # 0 on a one-column page; 0 or 1 on a two-column page; SPANNING


def reading_order(lines: Sequence[TextLine]) -> list[_Placed]:
    """One page's lines in reading order: top to bottom, a two-column stretch left column first."""
    split = _gutter(lines) if lines else None
    ordered = sorted(lines, key=lambda line: (line.top, line.x0))
    if split is None:
        return [_Placed(line, 0) for line in ordered]
    out: list[_Placed] = []
    band: list[TextLine] = []
    for line in ordered:
        if line.x0 < split < line.x1:  # spans the gutter: a title or a full-width block
            out.extend(_by_column(band, split))
            band = []
            out.append(_Placed(line, SPANNING))
        else:
            band.append(line)
    out.extend(_by_column(band, split))
    return out


def _by_column(band: list[TextLine], split: float) -> list[_Placed]:
    left = [_Placed(line, 0) for line in band if line.x1 <= split]
    right = [_Placed(line, 1) for line in band if line.x0 >= split]
    return left + right


def _gutter(lines: Sequence[TextLine]) -> float | None:
    """The x of an empty vertical gap between two columns of lines, if the page has one."""
    x_min = min(line.x0 for line in lines)
    x_max = max(line.x1 for line in lines)
    width = x_max - x_min
    if width <= 0 or len(lines) < 6:
        return None
    steps = 60
    crossings = []
    for step in range(int(steps * 0.3), int(steps * 0.7) + 1):
        x = x_min + width * step / steps
        crossings.append((sum(1 for line in lines if line.x0 < x < line.x1), x))
    crossing, x = min(crossings)
    left = sum(1 for line in lines if line.x1 <= x)
    right = sum(1 for line in lines if line.x0 >= x)
    if crossing > 0.1 * len(lines) or min(left, right) < 2:
        return None
    return x


# --- paragraphs ---


def paragraphs_from_lines(lines: Sequence[TextLine]) -> list[PagedParagraph]:
    """Join the document's lines into paragraphs, furniture dropped, each with its first page."""
    dropped = furniture(lines)
    kept_by_page: dict[int, list[TextLine]] = {}
    for position, line in enumerate(lines):
        if position not in dropped:
            kept_by_page.setdefault(line.page, []).append(line)
    ordered = [placed for page in sorted(kept_by_page) for placed in reading_order(kept_by_page[page])]
    if not ordered:
        return []
    body = statistics.median(p.line.height for p in ordered)
    leading = _leading(ordered, body)
    columns = _column_edges(ordered)
    groups: list[list[TextLine]] = [[ordered[0].line]]
    for previous, placed in pairwise(ordered):
        if _starts_paragraph(previous, placed, columns, body, leading):
            groups.append([placed.line])
        else:
            groups[-1].append(placed.line)
    words = _hyphenated_words(p.line.text for p in ordered)
    return [PagedParagraph(_join_lines(group, words), group[0].page) for group in groups]


def _leading(placed: Sequence[_Placed], body: float) -> float:
    """The usual distance from one line of a paragraph to the next."""
    steps = [
        b.line.top - a.line.top
        for a, b in pairwise(placed)
        if a.line.page == b.line.page and a.column == b.column and 0 < b.line.top - a.line.top < 3 * body
    ]
    return statistics.median(steps) if steps else 1.3 * body


@dataclass(frozen=True)
class _Column:
    left: float
    right: float


def _column_edges(placed: Sequence[_Placed]) -> dict[tuple[int, int], _Column]:
    """The left and right edge of each (page, column): where most of its lines start and end."""
    members: dict[tuple[int, int], list[TextLine]] = {}
    for p in placed:
        members.setdefault((p.line.page, p.column), []).append(p.line)
    out = {}
    for key, lines in members.items():
        lefts = sorted(line.x0 for line in lines)
        rights = sorted(line.x1 for line in lines)
        out[key] = _Column(lefts[len(lefts) // 10], rights[(len(rights) * 9) // 10])
    return out


def _starts_paragraph(
    previous: _Placed, placed: _Placed, columns: dict[tuple[int, int], _Column], body: float, leading: float
) -> bool:
    """Whether `placed` begins a new paragraph rather than carrying on the one `previous` is in."""
    before, line = previous.line, placed.line
    if abs(line.height - before.height) > 0.25 * body:  # a heading, or back from one
        return True
    flowing = before.page == line.page and previous.column == placed.column and line.top > before.top
    if flowing and line.top - before.top > leading + 0.25 * body:
        return True  # a wider gap than between the lines of a paragraph
    own = columns[(line.page, placed.column)]
    if line.x0 - own.left > 0.8 * body:
        return True  # a first-line indent, or a centred line
    if previous.column == SPANNING and placed.column != SPANNING:
        return True
    column = columns[(before.page, previous.column)]
    room = column.right - before.x1
    first_word = line.text.split(" ", 1)[0]
    per_char = (before.x1 - before.x0) / max(len(before.text), 1)
    # Ended short though the next word would have fitted: the line was ended on purpose.
    return room > (len(first_word) + 2) * per_char + 0.02 * (column.right - column.left)


def _hyphenated_words(texts: Iterable[str]) -> set[str]:
    """Words the document spells with a hyphen inside a line (so a line-end hyphen there is kept)."""
    found: set[str] = set()
    for text in texts:
        found.update(m.casefold() for m in re.findall(r"\w+-\w+", text))
    return found


def _join_lines(group: list[TextLine], hyphenated: set[str]) -> str:
    text = group[0].text
    for line in group[1:]:
        head = re.search(r"(\w+)-$", text)
        tail = re.match(r"(\w+)", line.text)
        if head and tail and line.text[:1].islower():
            compound = f"{head.group(1)}-{tail.group(1)}".casefold()
            text = text + line.text if compound in hyphenated else text[:-1] + line.text
        else:
            text = f"{text} {line.text}"
    return text


def _title_from_first_page(lines: Sequence[TextLine], paragraphs: list[PagedParagraph]) -> str | None:
    """The paragraph set largest near the top of page 1, when it is larger than the body text."""
    first = [line for line in lines if line.page == 1]
    if not first:
        return None
    body = statistics.median(line.height for line in lines)
    largest = max(first[:10], key=lambda line: line.height)
    if largest.height < 1.3 * body:
        return None
    for paragraph in paragraphs[:5]:
        if paragraph.text.startswith(largest.text):
            return paragraph.text if len(paragraph.text) <= 300 else None
    return None


def _main() -> None:
    """The child process of `read_pdf`: a PDF on stdin, its text as JSON on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY_BYTES, MAX_MEMORY_BYTES))
    max_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else MAX_SECONDS
    try:
        plain = read_pdf_here(sys.stdin.buffer.read(), max_seconds=max_seconds)
    except DocumentRejected as exc:
        json.dump({"error": str(exc)}, sys.stdout)
        return
    except MemoryError:
        json.dump({"error": TOO_COSTLY}, sys.stdout)
        return
    fields = {"text": plain.text, "title": plain.title, "author": plain.author, "date": plain.date}
    json.dump({**fields, "line_pages": list(plain.line_pages or ())}, sys.stdout)


if __name__ == "__main__":
    _main()

"""PDF and Word files made here from text we know, to check extraction against it.

`make_pdf` lays the paragraphs out itself, line by line, so a test knows exactly where each line,
header, footer, page break and hyphenated word fell: one or two columns, a running header, a
footer with page numbers, words hyphenated at line ends, paragraphs that run across a page break.
`make_scanned_pdf` makes a page that is only an image (no text layer), as a scanner does.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data"


def squad_paragraphs(path: Path = DATA / "squad2-dev-normans.json") -> tuple[str, list[str]]:
    """The title and paragraphs of the first article of a SQuAD file (real prose, CC BY-SA 4.0)."""
    article = json.loads(path.read_text("utf-8"))["data"][0]
    return str(article["title"]).replace("_", " "), [str(p["context"]).strip() for p in article["paragraphs"]]


def latin1(text: str) -> str:
    """Text the PDF core fonts can draw: typographic punctuation made plain, the rest of Latin-1 kept."""
    table = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."}
    text = "".join(table.get(ch, ch) for ch in text)
    return text.encode("latin-1", "replace").decode("latin-1")


@dataclass
class PdfLayout:
    """How `make_pdf` lays the text out."""

    columns: int = 1
    header: str | None = None  # drawn at the top of every page
    footer: str | None = "Page {page}"  # drawn at the bottom of every page ({page}: its number)
    hyphenate: bool = True  # split a long word that does not fit at a line end, with a hyphen
    font_size: float = 10.5
    title: str | None = None  # drawn large on page 1, and set as the document's metadata title
    author: str | None = None  # metadata only
    created: str = "2024-03-05T10:00:00+00:00"  # metadata: the creation date
    paragraph_gap: float = 4.0  # extra space between paragraphs, in points
    indent: float = 0.0  # first-line indent of each paragraph
    page_height: float = 842.0
    page_width: float = 595.0


@dataclass
class MadePdf:
    """A PDF and what is known of its layout."""

    data: bytes
    pages: int
    paragraph_pages: list[int]  # the page each paragraph starts on (1-based)
    hyphenated: list[str] = field(default_factory=list)  # words split at a line end
    furniture: list[str] = field(default_factory=list)  # header and footer lines drawn


def _wrap(pdf: object, text: str, width: float, hyphenate: bool, split_words: list[str]) -> list[str]:
    """Break `text` into lines no wider than `width`, hyphenating a long word that does not fit."""
    measure = pdf.get_string_width  # type: ignore[attr-defined]
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if measure(trial) <= width:
            current = trial
            continue
        letters = re.fullmatch(r"[A-Za-z]{8,}", word)
        if hyphenate and letters and current:
            # As much of the word as fits, keeping at least 3 letters on each side.
            for cut in range(len(word) - 3, 2, -1):
                head = f"{current} {word[:cut]}-"
                if measure(head) <= width:
                    lines.append(head)
                    split_words.append(word)
                    current = word[cut:]
                    break
            else:
                lines.append(current)
                current = word
            continue
        if current:
            lines.append(current)
        current = word
    if current:
        lines.append(current)
    return lines


def make_pdf(paragraphs: list[str], layout: PdfLayout | None = None) -> MadePdf:
    """Lay `paragraphs` out on A4 pages as `layout` says and return the PDF with what is known of it."""
    from fpdf import FPDF

    layout = layout or PdfLayout()
    pdf = FPDF(unit="pt", format=(layout.page_width, layout.page_height))
    pdf.set_auto_page_break(False)
    pdf.set_compression(True)
    if layout.title:
        pdf.set_title(latin1(layout.title))
    if layout.author:
        pdf.set_author(latin1(layout.author))
    pdf.set_creation_date(datetime.datetime.fromisoformat(layout.created))
    margin, gutter = 56.0, 24.0
    top, bottom = 72.0, layout.page_height - 72.0
    column_width = (layout.page_width - 2 * margin - gutter * (layout.columns - 1)) / layout.columns
    leading = layout.font_size * 1.3
    made = MadePdf(b"", 0, [])
    state = {"page": 0, "column": 0, "y": top}

    def new_page() -> None:
        pdf.add_page()
        state["page"] += 1
        state["column"], state["y"] = 0, top
        pdf.set_font("Helvetica", size=9)
        if layout.header:
            pdf.text(margin, 40, latin1(layout.header))
            made.furniture.append(latin1(layout.header))
        if layout.footer:
            footer = layout.footer.format(page=state["page"])
            pdf.text(layout.page_width / 2 - pdf.get_string_width(footer) / 2, layout.page_height - 36, footer)
            made.furniture.append(footer)
        pdf.set_font("Helvetica", size=layout.font_size)

    def next_line() -> None:
        state["y"] += leading
        if state["y"] > bottom:
            if state["column"] + 1 < layout.columns:
                state["column"] += 1
                state["y"] = top
            else:
                new_page()

    new_page()
    if layout.title:
        pdf.set_font("Helvetica", style="B", size=layout.font_size * 1.8)
        pdf.text(margin, state["y"], latin1(layout.title))
        state["y"] += layout.font_size * 3
        pdf.set_font("Helvetica", size=layout.font_size)
    for paragraph in paragraphs:
        lines = _wrap(pdf, latin1(paragraph), column_width - layout.indent, layout.hyphenate, made.hyphenated)
        made.paragraph_pages.append(int(state["page"]))
        for number, line in enumerate(lines):
            x = margin + state["column"] * (column_width + gutter) + (layout.indent if number == 0 else 0)
            pdf.text(x, state["y"], line)
            if number == len(lines) - 1:
                state["y"] += layout.paragraph_gap
            next_line()
    made.pages = int(state["page"])
    made.data = bytes(pdf.output())
    return made


def make_scanned_pdf(pages: int = 1) -> bytes:
    """A PDF whose pages are images of text only, with no text layer: what a scanner makes."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    pdf = FPDF(unit="pt", format="A4")
    for page in range(pages):
        image = Image.new("L", (600, 800), 255)
        draw = ImageDraw.Draw(image)
        for row in range(20):
            draw.text((40, 40 + row * 30), f"Scanned page {page + 1}, line {row + 1}: the text is only pixels.", 0)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pdf.add_page()
        pdf.image(io.BytesIO(buffer.getvalue()), x=0, y=0, w=595, h=842)
    return bytes(pdf.output())


def make_docx(
    blocks: list[tuple[str, object]],
    *,
    title: str | None = None,
    author: str | None = None,
    created: str | None = None,
) -> bytes:
    """A .docx of ("heading", text), ("paragraph", text), ("bullet", text) and ("table", rows) blocks."""
    from docx import Document

    document = Document()
    properties = document.core_properties
    properties.title = title or ""
    properties.author = author or ""
    if created:
        properties.created = datetime.datetime.fromisoformat(created)
    for kind, content in blocks:
        if kind == "heading":
            document.add_heading(str(content), level=1)
        elif kind == "title":
            document.add_heading(str(content), level=0)
        elif kind == "bullet":
            document.add_paragraph(str(content), style="List Bullet")
        elif kind == "table":
            rows = [list(map(str, row)) for row in content]  # type: ignore[attr-defined]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(str(content))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def word_f1(extracted: str, known: str) -> float:
    """Word-level F1 of extracted text against the known text (bags of words, as extractors are scored)."""
    from collections import Counter

    got, want = Counter(extracted.split()), Counter(known.split())
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def sentences_in_order(extracted: str, sentences: list[str]) -> float:
    """The share of `sentences` found whole in `extracted`, each after the one before it."""
    position, found = 0, 0
    flat = " ".join(extracted.split())
    for sentence in sentences:
        at = flat.find(" ".join(sentence.split()), position)
        if at >= 0:
            found += 1
            position = at + len(sentence)
    return found / len(sentences) if sentences else 1.0

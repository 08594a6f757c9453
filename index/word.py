"""Word (.docx) → paragraphs: headings, paragraphs, list items and table rows, in document order.

python-docx reads the file. Each heading, paragraph and list item becomes a paragraph of its own;
a table row reads as one unit with its header ("Header: cell; Header: cell"), so a quote from a
table says what each value is. Title, author and date come from the core properties, the title
else from the first Title or Heading paragraph.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from .errors import DocumentRejected
from .formats import PlainText, normalise_text

# A .docx is a ZIP: its parts unpacked may be far larger than the upload. Refuse beyond this.
MAX_UNPACKED_BYTES = 60_000_000
NOT_A_DOCX = "This file is not a readable Word document (.docx): it is damaged or of another kind."


def read_docx(data: bytes) -> PlainText:
    """The document's text, one paragraph a line, with its title, author and date."""
    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError
    from lxml import etree

    _check_archive(data)
    try:
        document = Document(io.BytesIO(data))
        blocks = list(_blocks(document))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise DocumentRejected(NOT_A_DOCX) from exc
    properties = document.core_properties
    title = _clean(properties.title or "") or next((text for style, text in blocks if style == "title"), None)
    created = properties.created
    date = created.date().isoformat() if created is not None else None
    text = "\n\n".join(text for _, text in blocks)
    return PlainText(text, title[:300] if title else None, _clean(properties.author or "")[:300] or None, date)


def _check_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DocumentRejected(NOT_A_DOCX) from exc
    if not any(entry.filename == "word/document.xml" for entry in entries):
        raise DocumentRejected(NOT_A_DOCX)
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > MAX_UNPACKED_BYTES:
        raise DocumentRejected(
            f"This Word document unpacks to {unpacked:,} bytes; citebot reads at most {MAX_UNPACKED_BYTES:,}."
        )


def _clean(text: str) -> str:
    """One line: Word's line breaks and tabs as spaces, normalised like every document."""
    return " ".join(normalise_text(text.replace("\t", " ")).split())


def _blocks(document: Any) -> Iterator[tuple[str, str]]:
    """(kind, text) for each non-empty heading, paragraph, list item and table row, in order."""
    from docx.table import Table

    first = True
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in _table_rows(block):
                yield "row", row
            first = False
            continue
        text = _clean(block.text)
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        is_title = style == "Title" or (first and style.startswith("Heading"))
        yield ("title" if is_title else "heading" if style.startswith("Heading") else "paragraph"), text
        first = False


def _table_rows(table: Any) -> Iterator[str]:
    """Each row after the first as one unit: "Header: cell; Header: cell" (merged cells once)."""
    rows = [_row_cells(row) for row in table.rows]
    if not rows:
        return
    header = rows[0]
    if len(rows) == 1:
        joined = "; ".join(cell for cell in header if cell)
        if joined:
            yield joined
        return
    for cells in rows[1:]:
        pairs = []
        for number, cell in enumerate(cells):
            if not cell:
                continue
            name = header[number] if number < len(header) else ""
            pairs.append(f"{name}: {cell}" if name and name != cell else cell)
        if pairs:
            yield "; ".join(pairs)


def _row_cells(row: Any) -> list[str]:
    cells: list[str] = []
    seen: set[int] = set()
    for cell in row.cells:
        if id(cell._tc) in seen:  # a merged cell is listed once per column it spans
            continue
        seen.add(id(cell._tc))
        cells.append(_clean(cell.text))
    return cells

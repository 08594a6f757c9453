"""PDFs made here from known text: extraction reads as written, furniture is dropped, pages are right."""

from __future__ import annotations

import re
import zlib

import pytest

from citebot.index.documents import BODY, Document
from citebot.index.errors import DocumentRejected
from citebot.index.formats import OLD_WORD
from citebot.index.ingest import load_document
from citebot.index.pdf import NO_TEXT, TOO_COSTLY, TextLine, furniture, reading_order
from citebot.index.sentences import split_sentences
from tests.paged_documents import (
    PdfLayout,
    latin1,
    make_pdf,
    make_scanned_pdf,
    sentences_in_order,
    squad_paragraphs,
    word_f1,
)

TITLE, PARAGRAPHS = squad_paragraphs()
KNOWN = [latin1(p) for p in PARAGRAPHS]
LAYOUTS = {
    "one column": PdfLayout(columns=1, header="The Normans: a reader", title=TITLE, author="Wiki Editors"),
    "two columns": PdfLayout(columns=2, header="The Normans: a reader", title=TITLE, author="Wiki Editors"),
    "indented, no gaps": PdfLayout(columns=1, paragraph_gap=0.0, indent=18.0, footer="- {page} -"),
    "two columns, page x of y": PdfLayout(columns=2, header="Normans {page}", footer="Page {page} of 9"),
}


def body(document: Document) -> list[str]:
    return [p.text for p in document.paragraphs if p.part == BODY]


@pytest.fixture(scope="module", params=list(LAYOUTS))
def made(request: pytest.FixtureRequest) -> tuple[PdfLayout, object, Document]:
    layout = LAYOUTS[request.param]
    if layout.header and "{page}" in layout.header:
        layout = PdfLayout(**{**layout.__dict__, "header": "Normans, a reader"})
    pdf = make_pdf(PARAGRAPHS, layout)
    return layout, pdf, load_document("normans.pdf", pdf.data)


def test_extraction_matches_the_known_text(made: tuple[PdfLayout, object, Document]) -> None:
    _, pdf, document = made
    extracted = "\n".join(body(document))
    known = "\n".join(KNOWN)
    assert pdf.pages >= 4  # type: ignore[attr-defined]
    assert word_f1(extracted, known) >= 0.97
    sentences = [s for p in KNOWN for s in split_sentences(p)]
    assert sentences_in_order(extracted, sentences) >= 0.95


def test_paragraphs_come_back_whole_with_their_pages(made: tuple[PdfLayout, object, Document]) -> None:
    _, pdf, document = made
    paragraphs = [p for p in document.paragraphs if p.part == BODY]
    assert [p.text for p in paragraphs] == KNOWN  # across page and column breaks too
    assert [p.page for p in paragraphs] == pdf.paragraph_pages  # type: ignore[attr-defined]
    assert paragraphs[3].label == f"p. {pdf.paragraph_pages[3]}, ¶4"  # type: ignore[attr-defined]


def test_headers_footers_and_page_numbers_are_not_kept(made: tuple[PdfLayout, object, Document]) -> None:
    _, pdf, document = made
    text = "\n".join(p.text for p in document.paragraphs)
    for line in set(pdf.furniture):  # type: ignore[attr-defined]
        assert line not in text
    assert "Page 2" not in text and "- 3 -" not in text


def test_hyphenated_words_are_joined(made: tuple[PdfLayout, object, Document]) -> None:
    _, pdf, document = made
    assert pdf.hyphenated  # type: ignore[attr-defined]
    text = " ".join(body(document))
    for word in pdf.hyphenated:  # type: ignore[attr-defined]
        assert word in text


def test_a_compound_split_at_its_hyphen_keeps_it() -> None:
    lines = [
        TextLine(1, 50, 100, 300, 110, "The well-known harbour stood on the coast for a hundred well-"),
        TextLine(1, 50, 113, 300, 123, "known years, and then it was rebuilt with great care by the"),
        TextLine(1, 50, 126, 120, 136, "council."),
    ]
    from citebot.index.pdf import paragraphs_from_lines

    (paragraph,) = paragraphs_from_lines(lines)
    assert "hundred well-known years" in paragraph.text


def test_metadata_gives_title_author_and_date() -> None:
    pdf = make_pdf(PARAGRAPHS[:6], LAYOUTS["one column"])
    meta = load_document("normans.pdf", pdf.data).meta
    assert (meta.title, meta.author, meta.date) == ("Normans", "Wiki Editors", "2024-03-05")


def test_without_metadata_the_title_is_the_large_line_on_page_one() -> None:
    layout = PdfLayout(title="A History of the Normans")
    pdf = make_pdf(PARAGRAPHS[:4], layout)
    # Strip the metadata title: fpdf2 writes it in the info dictionary.
    data = pdf.data.replace(b"/Title (A History of the Normans)", b"/Title ()")
    document = load_document("normans.pdf", data)
    assert document.meta.title == "A History of the Normans"
    assert document.paragraphs[0].part == "title"


def test_two_columns_are_read_column_by_column() -> None:
    left = [TextLine(1, 50, 100 + 12 * i, 280, 110 + 12 * i, f"left line {i} of the first column") for i in range(8)]
    right = [
        TextLine(1, 310, 100 + 12 * i, 540, 110 + 12 * i, f"right line {i} of the second column") for i in range(8)
    ]
    title = TextLine(1, 50, 60, 540, 80, "A title across both columns")
    ordered = [p.line.text for p in reading_order([*right, title, *left])]
    assert ordered == [title.text, *(line.text for line in left), *(line.text for line in right)]


def test_a_lone_page_number_is_furniture_even_in_a_one_page_document() -> None:
    lines = [
        TextLine(1, 50, 100, 500, 110, "The only paragraph of a one-page memo, which says what it says."),
        TextLine(1, 290, 800, 300, 810, "1"),
    ]
    assert furniture(lines) == {1}


def test_a_scanned_pdf_is_refused_as_such() -> None:
    with pytest.raises(DocumentRejected) as refused:
        load_document("scan.pdf", make_scanned_pdf(2))
    assert str(refused.value) == NO_TEXT
    assert "looks scanned" in NO_TEXT


def test_an_encrypted_pdf_is_refused() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.text(20, 20, "A secret paragraph that nobody may read without the password.")
    with pytest.raises(DocumentRejected, match="encrypted"):
        load_document("locked.pdf", bytes(pdf.output()))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100, "not a readable PDF"),
        ("fake.pdf", b"This is plain text that calls itself a PDF.", "not a PDF"),
        ("minutes.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), OLD_WORD),
        ("minutes.txt", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ".docx"),
    ],
)
def test_what_is_not_a_readable_pdf_is_refused_clearly(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentRejected, match=re.escape(message)):
        load_document(name, data)


def _deflated(chunk: bytes, repeats: int) -> bytes:
    """`chunk` repeated `repeats` times, deflated without ever holding it whole."""
    packer = zlib.compressobj(9)
    return b"".join(packer.compress(chunk) for _ in range(repeats)) + packer.flush()


def _one_page_pdf(contents: bytes, *, deflated: bool = False) -> bytes:
    stream = contents
    flate = b" /Filter /FlateDecode" if deflated else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), flate) + stream + b"\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body_ in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body_ + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def test_a_decompression_bomb_is_refused_within_the_caps() -> None:
    # 1.5 GB of drawing operators in a 2 MB upload: the reading process runs out of its memory cap.
    bomb = _one_page_pdf(_deflated(b"0 0 m " * 174_763, 1536), deflated=True)
    assert len(bomb) < 2_500_000
    with pytest.raises(DocumentRejected) as refused:
        load_document("bomb.pdf", bomb)
    assert str(refused.value) in (TOO_COSTLY, NO_TEXT)


def test_deeply_nested_objects_are_refused_not_crashing() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    data = _one_page_pdf(b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET " + nested)
    with pytest.raises(DocumentRejected):
        load_document("nested.pdf", data)


def test_thousands_of_pages_are_refused_past_the_page_cap() -> None:
    from fpdf import FPDF

    from citebot.index.pdf import MAX_PAGES

    pdf = FPDF()
    for _ in range(MAX_PAGES + 1):
        pdf.add_page()
    with pytest.raises(DocumentRejected, match="pages"):
        load_document("long.pdf", bytes(pdf.output()))

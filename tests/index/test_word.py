"""Word (.docx) files made here: headings, paragraphs, list items, tables and core properties."""

from __future__ import annotations

import io
import zipfile

import pytest

from citebot.index.documents import BODY
from citebot.index.errors import DocumentRejected
from citebot.index.ingest import load_document
from citebot.index.word import MAX_UNPACKED_BYTES
from tests.paged_documents import make_docx

HANDBOOK = [
    ("title", "Harbour Club Handbook"),
    ("paragraph", "The Harbour Club meets every Tuesday evening in the old boathouse by the pier."),
    ("heading", "Membership"),
    ("paragraph", "Members pay a yearly fee of forty pounds, due each January."),
    ("bullet", "Guests may visit twice a season before they must join."),
    ("bullet", "Children under twelve come with an adult."),
    ("heading", "Boats"),
    ("table", [["Boat", "Length", "Crew"], ["Osprey", "6 m", "2"], ["Curlew", "9 m", "4"]]),
    ("paragraph", "Boats are launched from the north slip only, and never after sunset."),
]


@pytest.fixture(scope="module")
def handbook() -> bytes:
    return make_docx(HANDBOOK, title="Harbour Club Handbook", author="Ann Reyes", created="2025-04-02T09:00:00")


def test_core_properties_give_title_author_and_date(handbook: bytes) -> None:
    meta = load_document("handbook.docx", handbook).meta
    assert (meta.title, meta.author, meta.date) == ("Harbour Club Handbook", "Ann Reyes", "2025-04-02")


def test_headings_paragraphs_and_list_items_stay_apart_in_order(handbook: bytes) -> None:
    document = load_document("handbook.docx", handbook)
    assert document.paragraphs[0].part == "title"
    texts = [p.text for p in document.paragraphs if p.part == BODY]
    assert texts[:5] == [
        "The Harbour Club meets every Tuesday evening in the old boathouse by the pier.",
        "Membership",
        "Members pay a yearly fee of forty pounds, due each January.",
        "Guests may visit twice a season before they must join.",
        "Children under twelve come with an adult.",
    ]
    assert texts[-1] == "Boats are launched from the north slip only, and never after sunset."
    assert all(p.page is None for p in document.paragraphs)  # Word files are not paged


def test_a_table_row_reads_as_one_unit_with_its_header(handbook: bytes) -> None:
    document = load_document("handbook.docx", handbook)
    texts = [p.text for p in document.paragraphs]
    assert "Boat: Osprey; Length: 6 m; Crew: 2" in texts
    assert "Boat: Curlew; Length: 9 m; Crew: 4" in texts
    assert texts.index("Boat: Osprey; Length: 6 m; Crew: 2") > texts.index("Boats")


def test_without_a_title_property_the_title_paragraph_names_it() -> None:
    data = make_docx([("title", "Minutes of the March Meeting"), ("paragraph", "The meeting opened at seven.")])
    assert load_document("minutes.docx", data).meta.title == "Minutes of the March Meeting"


def test_a_docx_that_is_not_one_is_refused() -> None:
    with pytest.raises(DocumentRejected, match="not a Word document"):
        load_document("notes.docx", b"Some text.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not word")
    with pytest.raises(DocumentRejected, match="not a readable Word document"):
        load_document("notes.docx", buffer.getvalue())


def test_a_docx_that_unpacks_too_large_is_refused_before_it_is_read() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b" " * (MAX_UNPACKED_BYTES + 1))
    assert len(buffer.getvalue()) < 2_000_000
    with pytest.raises(DocumentRejected, match="unpacks to"):
        load_document("bomb.docx", buffer.getvalue())


def test_deeply_nested_xml_is_refused() -> None:
    buffer = io.BytesIO()
    handbook = make_docx([("paragraph", "Hello.")])
    with zipfile.ZipFile(io.BytesIO(handbook)) as source, zipfile.ZipFile(buffer, "w") as target:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + b"<w:x>" * 5000 + b"</w:x>" * 5000)
            target.writestr(entry, data)
    with pytest.raises(DocumentRejected):
        load_document("nested.docx", buffer.getvalue())

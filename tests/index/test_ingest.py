"""Ingest keeps the article and its front matter and drops page furniture, on two different pages."""

from __future__ import annotations

import pytest

from citebot.index.documents import BODY
from citebot.index.errors import DocumentRejected
from citebot.index.formats import decode_text
from citebot.index.furniture import furniture_reason, split_credit
from citebot.index.ingest import load_document, parse_document

from ..conftest import ARTICLE_TEXT, DATA

ARTICLE_FURNITURE = [
    "1 week ago 29",
    "You have a preview view of this article",
    "Thank you for your patience while we verify access",
    "Already a subscriber?",
    "Want all of The Times?",
    "Read Entire Article",
    "Olahraga Sehat",
    "Credit...Pool photo",
    "Yoan Valat",
]
SECOND_PAGE_FURNITURE = [
    "Skip to main content",
    "Home › World",
    "Sign in | Register",
    "Updated 2 hours ago",
    "3 min read",
    "Photo: Anna Berg",
    "Share this article",
    "Advertisement",
    "Sign up for our morning briefing",
    "Most read",
    "12 comments",
    "© 2025",
    "We use cookies",
]


@pytest.fixture(scope="module")
def article():
    return parse_document(ARTICLE_TEXT, source_name="carney-beijing.txt")


@pytest.fixture(scope="module")
def second_page():
    return load_document("second_page.txt", (DATA / "second_page.txt").read_bytes())


def kept_text(document) -> str:
    return "\n".join(p.text for p in document.paragraphs)


def test_article_metadata_comes_from_the_page(article) -> None:
    assert (
        article.meta.title == "Mark Carney Heads to Beijing to Discuss Canada-China Relations as U.S. Outlook Darkens"
    )
    assert article.meta.author == "Matina Stevis-Gridneff"
    assert article.meta.date == "Jan. 14, 2026"


def test_article_parts_are_labelled_and_body_numbered(article) -> None:
    parts = [p.part for p in article.paragraphs]
    assert parts[:7] == ["title", "standfirst", "caption", "caption", "byline", "note", "dateline"]
    body = [p for p in article.paragraphs if p.part == BODY]
    assert [p.number for p in body] == [1, 2, 3, 4, 5, 6]
    assert body[2].text.startswith("Diplomatic relations between the two nations ruptured in 2018")


@pytest.mark.parametrize("furniture", ARTICLE_FURNITURE)
def test_article_furniture_is_never_kept(article, furniture: str) -> None:
    assert furniture not in kept_text(article)
    assert all(furniture not in s.text for s in article.sentences)


def test_glued_credit_does_not_leak_into_the_caption(article) -> None:
    caption = [s.text for s in article.sentences if s.part == "caption"][-1]
    assert caption.endswith("thawing of Canada’s relationship with China.")


def test_every_kept_paragraph_is_verbatim_source_text(article, second_page) -> None:
    source = (DATA / "second_page.txt").read_text("utf-8")
    for doc, text in ((article, ARTICLE_TEXT), (second_page, source)):
        for sentence in doc.sentences:
            assert sentence.text in text


def test_second_page_with_other_furniture(second_page) -> None:
    assert second_page.meta.title == "Harbour Town Votes to Turn Old Docks Into a Wind-Power Yard"
    assert second_page.meta.author == "Lars Holm and Maria Quist"
    assert second_page.meta.date == "March 3, 2025"
    text = kept_text(second_page)
    for furniture in SECOND_PAGE_FURNITURE:
        assert furniture not in text, furniture
    body = [p.text for p in second_page.paragraphs if p.part == BODY]
    assert len(body) == 4
    assert body[-1].startswith("Construction is expected to begin in the autumn")
    parts = {p.part for p in second_page.paragraphs}
    assert {"standfirst", "caption", "byline", "dateline"} <= parts


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1 week ago 29", "counter"),
        ("5 min read", "counter"),
        ("Olahraga Sehat| | | |", "navigation"),
        ("News • Sport • Weather", "navigation"),
        ("Already a subscriber? Log in.", "site chrome"),
        ("Continue reading the main story", "site chrome"),
        ("Copyright 2024 Example Media", "copyright"),
        ("Credit...Reuters", "credit"),
        ("---- *** ----", "mostly symbols"),
    ],
)
def test_furniture_rules_name_their_reason(line: str, reason: str) -> None:
    assert furniture_reason(line) == reason


@pytest.mark.parametrize(
    "line",
    [
        "Diplomatic relations between the two nations ruptured in 2018.",
        "Jan. 14, 2026, 12:00 a.m. ET",
        "By Matina Stevis-Gridneff",
        "The vote passed by nine votes to four.",
    ],
)
def test_article_lines_are_not_furniture(line: str) -> None:
    assert furniture_reason(line) is None


def test_split_credit() -> None:
    assert split_credit("He smiled.Credit...Pool photo by Yoan Valat") == (
        "He smiled.",
        "Credit...Pool photo by Yoan Valat",
    )
    assert split_credit("No credit here.") == ("No credit here.", None)


def test_html_page_is_cleaned_like_text() -> None:
    html = (
        "<html><head><title>Site | Harbour vote</title><style>p{color:red}</style>"
        "<script>var x = 'Read Entire Article';</script></head><body><nav>Home | World | Sport</nav>"
        "<h1>Harbour Town Votes to Turn Old Docks Into a Wind-Power Yard</h1><p>By Lars Holm</p>"
        "<p>The council of Harbour Town voted on Monday to lease its disused docks.</p>"
        "<p>Advertisement</p><p>The vote passed by nine votes to four.</p><footer>© 2025 Gazette</footer></body></html>"
    )
    doc = load_document("page.html", html.encode())
    assert doc.meta.title == "Harbour Town Votes to Turn Old Docks Into a Wind-Power Yard"
    assert doc.meta.author == "Lars Holm"
    body = [p.text for p in doc.paragraphs if p.part == BODY]
    assert body == [
        "The council of Harbour Town voted on Monday to lease its disused docks.",
        "The vote passed by nine votes to four.",
    ]
    assert "color" not in kept_text(doc) and "var x" not in kept_text(doc)


def test_markdown_headings_and_wrapped_lines() -> None:
    md = (
        "# Quarterly Report\n\nRevenue grew by four percent in the third quarter, driven by\n"
        "strong sales in the north.\n\n**Costs** fell as well.\n"
    )
    doc = load_document("report.md", md.encode())
    assert doc.meta.title == "Quarterly Report"
    assert [p.text for p in doc.paragraphs if p.part == BODY] == [
        "Revenue grew by four percent in the third quarter, driven by strong sales in the north.",
        "Costs fell as well.",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n  ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        (b"PK\x03\x04rest", "ZIP"),
        (b"abc\x00def" * 10, "binary"),
    ],
)
def test_non_text_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(DocumentRejected, match=message):
        decode_text(data)


def test_utf16_and_latin1_are_decoded() -> None:
    assert decode_text("Café au lait.".encode("utf-16")) == "Café au lait."
    assert decode_text("Café au lait.".encode("latin-1")) == "Café au lait."


def test_a_page_of_only_furniture_is_refused() -> None:
    with pytest.raises(DocumentRejected, match="No article text"):
        parse_document("Sign in | Register | Subscribe\nAdvertisement\n3 min read\n© 2025 Gazette\n")


def test_control_and_bidi_characters_never_reach_titles_or_quotes() -> None:
    from citebot.index.ingest import load_document

    page = "Harbour \x1b[31mVote\x1b[0m \u202eNews\n\nThe coun\u00adcil voted to lease the docks.\n".encode()
    document = load_document("page.txt", page)
    assert document.meta.title == "Harbour Vote News"
    assert [s.text for s in document.sentences if s.part == "body"] == ["The council voted to lease the docks."]


@pytest.mark.parametrize(
    "escaped",
    [
        "\x1b]0;pwned\x07Harbour Vote",  # OSC (set the window title), ended by BEL
        "\x1b]8;;http://evil.example\x1b\\Harbour Vote",  # OSC 8 hyperlink, ended by ST
        "\x1bP+q pwned\x1b\\Harbour Vote",  # DCS
        "\x9d0;pwned\x07Harbour Vote",  # OSC in its 8-bit form
        "\x1b]0;pwned",  # never ended: up to the end of the line
        "\x1b7\x1b(BHarbour Vote",  # two- and three-character escapes
    ],
)
def test_terminal_escape_sequences_go_with_their_text(escaped: str) -> None:
    from citebot.index.formats import strip_controls

    cleaned = strip_controls(escaped + "\nnext line")
    assert "pwned" not in cleaned and "evil" not in cleaned and "\x1b" not in cleaned
    assert cleaned.endswith("\nnext line") and cleaned.split("\n")[0] in ("Harbour Vote", "")


def test_a_title_with_an_osc_sequence_keeps_none_of_it() -> None:
    from citebot.index.ingest import load_document

    page = b"\x1b]0;pwned\x07Harbour Vote\n\nThe council voted to lease the docks.\n"
    assert load_document("page.txt", page).meta.title == "Harbour Vote"


def test_utf16_without_a_byte_order_mark_is_decoded() -> None:
    from citebot.index.formats import decode_text

    text = "Harbour Vote\n\nThe council voted to lease its docks, said Zoë.\n"
    for codec in ("utf-16-le", "utf-16-be"):
        assert decode_text(text.encode(codec)) == text


def test_an_html_page_is_decoded_with_the_charset_it_declares() -> None:
    from citebot.index.formats import to_plain_text

    html = '<html><head><meta charset="windows-1250"><title>Žižkov radnice</title></head>'
    html += "<body><h1>Žižkov radnice</h1><p>Radní schválili pronájem doků, řekl starosta Łukasz.</p></body></html>"
    plain = to_plain_text("page.html", html.encode("windows-1250"))
    assert plain.title == "Žižkov radnice" and "řekl starosta Łukasz" in plain.text
    meta = html.replace(
        '<meta charset="windows-1250">', '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-2">'
    )
    assert "řekl starosta Łukasz" in to_plain_text("page.html", meta.encode("iso-8859-2")).text


def test_ingest_is_linear_in_a_long_paragraph() -> None:
    """A 400 KB one-paragraph upload took 126 s when splitting was quadratic; now well under 20 s."""
    import time

    from citebot.index.ingest import load_document

    sentence = "The council voted on Monday to lease the docks, said Mr. Holm of the harbour board. "
    page = ("Harbour Report\n\n" + sentence * (400_000 // len(sentence))).encode()
    started = time.perf_counter()
    document = load_document("long.txt", page)
    assert time.perf_counter() - started < 20
    body = [s.text for s in document.sentences if s.part == "body"]
    assert len(body) == 400_000 // len(sentence) and set(body) == {sentence.strip()}  # "Mr." never ends one


def test_a_line_of_words_with_no_sentence_end_is_cut_into_verbatim_units() -> None:
    from citebot.index.ingest import MAX_UNIT_CHARS, load_document

    words = " ".join(f"word{i}" for i in range(60_000))
    document = load_document("words.txt", f"Word List\n\n{words}\n".encode())
    body = [s.text for s in document.sentences if s.part == "body"]
    assert all(len(u) <= MAX_UNIT_CHARS and u in words for u in body)
    assert " ".join(body) == words


def test_hard_wrapped_list_items_stay_one_paragraph() -> None:
    text = (
        "Imports\n\nThe name is bound in one of three ways:\n\n"
        "* If the module name is followed by as, then the name following as\n"
        "  is bound directly to the imported module.\n\n"
        "* If no other name is specified, and the module being imported is a\n"
        "  top level module, the module name is bound in the local namespace.\n"
        "- A short item.\n"
        "The next paragraph starts here.\n"
    )
    doc = load_document("imports.txt", text.encode())
    body = [p.text for p in doc.paragraphs if p.part == BODY]
    assert (
        "* If the module name is followed by as, then the name following as is bound directly to the imported module."
        in body
    )
    assert (
        "* If no other name is specified, and the module being imported is a top level module, "
        "the module name is bound in the local namespace." in body
    )
    assert "- A short item." in body and "The next paragraph starts here." in body

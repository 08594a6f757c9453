"""Sentence splitting keeps abbreviations, dates and times whole."""

from __future__ import annotations

import pytest

from citebot.index.ingest import parse_document
from citebot.index.sentences import split_sentences

from ..conftest import ARTICLE_TEXT


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        (
            "Mr. Carney left Ottawa on Tuesday. He flew to Beijing.",
            ["Mr. Carney left Ottawa on Tuesday.", "He flew to Beijing."],
        ),
        ("It was published on Jan. 14, 2026. Talks began.", ["It was published on Jan. 14, 2026.", "Talks began."]),
        (
            "U.S. officials met Dr. Lund at 9 a.m. ET on Monday. Nothing was agreed.",
            ["U.S. officials met Dr. Lund at 9 a.m. ET on Monday.", "Nothing was agreed."],
        ),
        ("No full stop at the end", ["No full stop at the end"]),
    ],
)
def test_split_sentences(paragraph: str, expected: list[str]) -> None:
    assert split_sentences(paragraph) == expected


def test_article_sentences_keep_mr_carney_whole() -> None:
    doc = parse_document(ARTICLE_TEXT)
    texts = [s.text for s in doc.sentences]
    assert any(t.startswith("Mr. Carney, under pressure by a recalcitrant President Trump") for t in texts)
    assert not any(t in ("Mr.", "Jan.") for t in texts)
    assert "China is at the top of his list." in texts
    assert "Jan. 14, 2026, 12:00 a.m. ET" in texts


def test_overlong_run_on_sentence_is_quoted_in_verbatim_pieces() -> None:
    paragraph = " ".join(["word"] * 20000)
    doc = parse_document("A Title\n\n" + paragraph)
    pieces = [s.text for s in doc.sentences if s.part == "body"]
    assert len(pieces) > 1
    assert all(len(p) <= 600 and p in paragraph for p in pieces)

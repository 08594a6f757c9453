"""Lexical scoring: our BM25 postings give the scores of the reference implementation (bm25s)."""

from __future__ import annotations

import numpy as np

from citebot.index.ingest import load_document
from citebot.index.lexical import BM25, LexicalIndex, stems, words

from ..conftest import ARTICLE


def test_bm25_scores_match_bm25s_on_the_article() -> None:
    import bm25s

    units = [stems(words(s.text)) for s in load_document(ARTICLE.name, ARTICLE.read_bytes()).sentences]
    units.append([])  # an empty unit, as a furniture-free heading can leave
    reference = bm25s.BM25()
    reference.index([u or ["\u2400"] for u in units], show_progress=False)
    ours = BM25(units)
    for question in ("why did relations rupture", "canola tariffs canada china", "carney carney beijing", "zzz"):
        query = [t for t in stems(words(question)) if any(t in u for u in units)]
        expected = np.asarray(reference.get_scores(query), dtype=np.float32) if query else np.zeros(len(units))
        assert np.allclose(ours.scores(query), expected, atol=1e-5), question


def test_a_rebuilt_index_reuses_the_tokens_it_already_has() -> None:
    first = LexicalIndex(["The docks were leased.", "Bread is sold daily."])
    second = LexicalIndex(["The docks were leased.", "A library opened."], known=first)
    assert second.match("docks leased").scores.argmax() == 0
    assert second.match("library").scores[1] > 0

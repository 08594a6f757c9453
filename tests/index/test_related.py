"""Related terms: the library's words that mean nearly what a question's word means (related.py)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from citebot.index import related as related_module
from citebot.index.answer import AnswerPolicy, compose
from citebot.index.engine import Engine
from citebot.index.ranking import HAND_WEIGHTS, Ranker
from citebot.index.related import (
    WordVectors,
    build_related_terms,
    related_from_json,
    related_terms,
    related_to_json,
    vocabulary,
)
from citebot.index.retrieve import Candidate, Retrieval, Retriever
from citebot.index.store import load_index

from ..conftest import engine_config
from ..fakes import HashingEmbedder


class TableEmbedder:
    """Gives each word the vector it was told, and counts what it embeds."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {w: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for w, v in vectors.items()}
        self.encoded: list[str] = []

    model_id = "test/table"
    dimension = 2

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        self.encoded.extend(texts)
        return np.vstack([self.vectors[t] for t in texts])


def test_vocabulary_keeps_each_stem_once_in_its_commonest_form_and_leaves_out_numbers() -> None:
    forms = vocabulary(["The settlers settled in 911.", "Settlers came; the settlers stayed. Ships: 3rd"])
    assert forms["settler"] == "settlers"
    assert "911" not in forms and "3rd" not in forms and not any(f.isdigit() for f in forms.values())
    assert "the" not in forms  # stop words carry no evidence


def test_vocabulary_counts_a_large_library_in_chunks_with_the_same_result(monkeypatch) -> None:
    texts = [f"Settlers {word} harbours." for word in ("built", "sailed", "settled", "built", "left")]
    whole = vocabulary(texts)
    monkeypatch.setattr(related_module, "_COUNT_CHUNK", 2)
    assert vocabulary(iter(texts)) == whole and whole["built"] == "built"


def test_related_terms_keep_close_words_closest_first_never_the_word_itself(monkeypatch) -> None:
    monkeypatch.setattr(related_module, "_BLOCK_CELLS", 8)  # blocks of two rows, as on a large library
    terms = ["faith", "religion", "church", "harbour"]
    vectors = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    table = related_terms(terms, vectors, threshold=0.6, limit=8)
    assert table["faith"] == (("religion", 0.8), ("church", 0.6))
    assert table["religion"] == (("church", 0.96), ("faith", 0.8))
    assert "harbour" not in table
    assert related_terms(terms, vectors, threshold=0.6, limit=1)["faith"] == (("religion", 0.8),)
    assert related_terms(["alone"], vectors[:1]) == {}


def test_the_table_round_trips_through_json_and_bad_shapes_are_refused() -> None:
    table = {"faith": (("religion", 0.8),)}
    assert related_from_json(related_to_json(table)) == table
    for bad in ([["faith"]], {"faith": [["religion"]]}, {"faith": 3}):
        with pytest.raises((ValueError, TypeError)):
            related_from_json(bad)


def test_words_embedded_once_are_not_embedded_again(tmp_path: Path) -> None:
    embedder = TableEmbedder({"faith": [1, 0], "religion": [0.8, 0.6], "harbour": [0, 1]})
    cache = WordVectors(tmp_path / "words.npz")
    first = build_related_terms(["Faith and religion."], embedder, cache)
    assert first["faith"][0][0] == "religion" and sorted(embedder.encoded) == ["faith", "religion"]
    second = build_related_terms(["Faith, religion and a harbour."], embedder, cache)
    assert embedder.encoded[2:] == ["harbour"]
    assert second["faith"] == first["faith"]


def test_a_damaged_word_cache_only_costs_embedding_again(tmp_path: Path) -> None:
    path = tmp_path / "words.npz"
    path.write_bytes(b"not numpy")
    assert WordVectors(path).load() == {}
    embedder = TableEmbedder({"faith": [1, 0], "religion": [0.8, 0.6]})
    assert build_related_terms(["Faith and religion."], embedder, WordVectors(path))
    assert set(WordVectors(path).load()) == {"faith", "religion"}


LIBRARY = (
    b"Settlers\n\nThe settlers adopted Catholicism within a generation.\n\n"
    b"The settlers built a harbour and traded wool.\n"
)


@pytest.fixture
def stored(tmp_path: Path):
    corpus = tmp_path / "settlers.txt"
    corpus.write_bytes(LIBRARY)
    engine = Engine(engine_config(tmp_path / "index", corpus), embedder=HashingEmbedder())
    engine.default.loaded()
    return load_index(tmp_path / "index")


def test_a_build_keeps_the_table_in_the_index_and_the_manifest_counts_it(stored) -> None:
    assert stored.manifest.counts["related_terms"] == len(stored.related)
    assert all(other != term for term, near in stored.related.items() for other, _ in near)


def scores(retriever: Retriever, question: str, stored) -> dict[str, float]:
    vector = HashingEmbedder().encode([question])[0]
    found = retriever.retrieve(question, vector)
    return {stored.sentences[c.sentence_id].text: c.score for c in found.candidates}


def test_a_sentence_with_a_related_word_gets_that_words_share_of_credit(stored) -> None:
    question = "Which religion did the settlers adopt?"
    by_hand = Ranker.by_hand()
    plain = scores(Retriever(dataclasses.replace(stored, related={}), ranker=by_hand), question, stored)
    table = {"religion": (("catholic", 0.7),)}
    expanded = scores(Retriever(dataclasses.replace(stored, related=table), ranker=by_hand), question, stored)
    catholic = "The settlers adopted Catholicism within a generation."
    wool = "The settlers built a harbour and traded wool."
    retriever = Retriever(stored)
    weights = retriever._query_weights(retriever.lexical.match(question))
    assert expanded[catholic] - plain[catholic] == pytest.approx(HAND_WEIGHTS["related"] * weights["religion"] * 0.7)
    assert expanded[wool] == pytest.approx(plain[wool])


def test_a_word_typo_repair_guessed_is_not_expanded(stored) -> None:
    table = {"harbour": (("catholic", 0.9),)}
    retriever = Retriever(dataclasses.replace(stored, related=table))
    catholic = "The settlers adopted Catholicism within a generation."
    assert "harbour" in retriever.lexical.match("what about the harbuor?").query_stems  # repaired
    misspelt = scores(retriever, "what about the harbuor?", stored)
    plain = scores(Retriever(dataclasses.replace(stored, related={})), "what about the harbuor?", stored)
    assert misspelt[catholic] == pytest.approx(plain[catholic])


def retrieval(*scores: float) -> Retrieval:
    return Retrieval(tuple(Candidate(i, 0.6, 1.0, s) for i, s in enumerate(scores)), 1.0, ())


def test_a_sure_answer_quotes_only_what_ranks_close_but_an_uncertain_one_the_two_closest(stored) -> None:
    far_apart = retrieval(2.0, 1.0)  # sureness 2.0 + 2 × 1.0 = 4.0
    sure = compose("q", far_apart, stored, AnswerPolicy(sure_above=3.0))
    assert not sure.uncertain and len(sure.citations) == 1
    unsure = compose("q", far_apart, stored, AnswerPolicy(sure_above=5.0, closest_margin=math.inf))
    assert unsure.uncertain and len(unsure.citations) == 2
    short = compose("q", far_apart, stored, AnswerPolicy(sure_above=5.0, closest_margin=math.inf, max_closest_chars=10))
    assert len(short.citations) == 1  # the closest one always, the next only within the budget
    far = compose("q", far_apart, stored, AnswerPolicy(sure_above=5.0, closest_margin=0.5))
    assert far.uncertain and len(far.citations) == 1  # …and only when it ranks close to the first
    near = compose("q", retrieval(2.0, 1.6), stored, AnswerPolicy(sure_above=9.0, closest_margin=0.5))
    assert near.uncertain and len(near.citations) == 2


def test_an_unchanged_vocabulary_leaves_the_word_cache_file_alone(tmp_path: Path) -> None:
    embedder = TableEmbedder({"faith": [1, 0], "religion": [0.8, 0.6], "harbour": [0, 1]})
    cache = WordVectors(tmp_path / "words.npz")
    build_related_terms(["Faith, religion and a harbour."], embedder, cache)
    written = cache.path.stat().st_mtime_ns
    build_related_terms(["A harbour of faith and religion."], embedder, cache)
    assert cache.path.stat().st_mtime_ns == written
    build_related_terms(["Faith and religion."], embedder, cache)  # "harbour" is gone from the library
    assert set(cache.load()) == {"faith", "religion"}

"""Hybrid retrieval: dense cosine from FAISS joined with stemmed BM25 evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lexical import LexicalIndex, LexicalMatch
from .store import StoredIndex
from .vectors import search

# How much lexical agreement adds to the dense score when ranking sentences (tuned on the dev set).
LEXICAL_WEIGHT = 0.25
CANDIDATES = 40
# A headline shares words with most questions but rarely answers them; it ranks a little lower.
TITLE_PENALTY = 0.12
# Byline and dateline answer only "who wrote this?"-style questions (see answer.metadata_part);
# as free-text matches they look like answers to any "who"/"when" question.
METADATA_ONLY_PARTS = frozenset({"byline", "dateline"})


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer the question, with the evidence for it."""

    sentence_id: int
    dense: float
    lexical: float  # BM25 relative to the best BM25 score for this question, 0..1
    score: float  # ranking score


@dataclass(frozen=True)
class Retrieval:
    candidates: tuple[Candidate, ...]  # best first
    coverage: float
    query_stems: tuple[str, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class Retriever:
    """Ranks the units of one loaded index for a question vector and its text."""

    def __init__(self, stored: StoredIndex, *, previous: Retriever | None = None) -> None:
        """`previous`, the retriever of the index this one replaces, lends its tokenised sentences."""
        self.stored = stored
        known: LexicalIndex | None = previous.lexical if previous is not None else None
        self.lexical: LexicalIndex = LexicalIndex([s.text for s in stored.sentences], known=known)
        # Sentence ids are numbered across documents in order, so each document is one id range.
        self.spans: list[tuple[int, int]] = []
        first = 0
        for document in stored.documents:
            self.spans.append((first, first + len(document.sentences)))
            first += len(document.sentences)

    def retrieve(
        self, question: str, question_vector: np.ndarray, *, k: int = CANDIDATES, document: int | None = None
    ) -> Retrieval:
        """Rank the library's sentences, or only those of document number `document`."""
        span = self.spans[document] if document is not None else None
        scores, ids = search(self.stored.vectors, question_vector.reshape(1, -1), k, span=span)
        dense = {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}
        match: LexicalMatch = self.lexical.match(question)
        if span is not None:
            outside = np.ones(match.scores.shape[0], dtype=bool)
            outside[span[0] : span[1]] = False
            match.scores[outside] = 0.0
        top_lexical = float(match.scores.max()) if match.scores.size else 0.0
        lexical_ids = np.argsort(-match.scores)[:k] if top_lexical > 0 else np.array([], dtype=np.int64)
        missing = [int(i) for i in lexical_ids if int(i) not in dense]
        if missing:
            # Dense scores for lexical hits outside the dense top-k, read back from the index.
            vectors = np.vstack([self.stored.vectors.reconstruct(i) for i in missing])
            for i, value in zip(missing, vectors @ question_vector, strict=True):
                dense[i] = float(value)
        candidates = []
        for sentence_id, dense_score in dense.items():
            if self.stored.sentences[sentence_id].part in METADATA_ONLY_PARTS:
                continue
            lexical = float(match.scores[sentence_id]) / top_lexical if top_lexical > 0 else 0.0
            score = dense_score + LEXICAL_WEIGHT * lexical * match.coverage
            if self.stored.sentences[sentence_id].part == "title":
                score -= TITLE_PENALTY
            candidates.append(Candidate(sentence_id, dense_score, lexical, score))
        candidates.sort(key=lambda c: c.score, reverse=True)
        return Retrieval(tuple(candidates), match.coverage, match.query_stems)

"""Hybrid retrieval: dense cosine from FAISS, then a ranking that reads each sentence in its context.

The model embeds sentences one by one, so on its own it misses what a reader sees at once: that "It
was commissioned by Odo" is about the tapestry named just before, that the paragraph as a whole is on
the question's topic, that a "when" question wants a sentence with a date in it. The ranking adds
those signals to the dense score; each weight was kept only if it helped on the dev sets (docs/answer-quality.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .cues import SentenceCues, answer_kind, fit, question_words, sentence_cues
from .lexical import LexicalIndex, LexicalMatch, stems, words
from .ranking import FEATURES, Ranker, shipped_ranker
from .store import StoredIndex
from .vectors import search, stored_vectors

CANDIDATES = 40
_DENSE_GAP = FEATURES.index("dense_gap")
_SENTENCE_END = re.compile(r"[.!?:;…][\"'”’)\]]*\s*$")
# Byline and dateline answer only "who wrote this?"-style questions (see answer.metadata_part);
# as free-text matches they look like answers to any "who"/"when" question.
METADATA_ONLY_PARTS = frozenset({"byline", "dateline"})
_LEADING_PRONOUN = re.compile(
    r"^\W*(it|they|he|she|this|these|that|those|his|her|their|its|there|such)\b", re.IGNORECASE
)


# A follow-up ("and the tariffs?", "who said that?") is read with the question before it: its words
# count this much beside the follow-up's own (all of it when the follow-up has no words of its own),
# and the paragraphs the previous answer quoted rank a little higher.
PREVIOUS_QUESTION_WEIGHT = 0.35


@dataclass(frozen=True)
class FollowUp:
    """The exchange a follow-up question is read in: the previous question and the paragraphs
    (numbered as `Retriever.paragraph_number` numbers them) its answer quoted."""

    previous_question: str
    paragraphs: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer the question, with the evidence for it."""

    sentence_id: int
    dense: float
    lexical: float  # the idf-weighted share of the question's words the sentence has, 0..1
    score: float  # ranking score
    # What the ranking read of it, by ranking.FEATURES (a row of the retrieval's feature matrix).
    features: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Retrieval:
    candidates: tuple[Candidate, ...]  # best first
    coverage: float  # share of the question's words found anywhere in the searched documents
    query_stems: tuple[str, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def best_dense(self) -> float:
        """The highest dense similarity of any candidate: evidence independent of the ranking."""
        return max((c.dense for c in self.candidates), default=0.0)

    @property
    def margin(self) -> float:
        """How far the best candidate ranks above the next one."""
        if len(self.candidates) < 2:
            return self.candidates[0].score if self.candidates else 0.0
        return self.candidates[0].score - self.candidates[1].score


class Retriever:
    """Ranks the units of one loaded index for a question vector and its text."""

    def __init__(self, stored: StoredIndex, *, previous: Retriever | None = None, ranker: Ranker | None = None) -> None:
        """`previous`, the retriever of the index this one replaces, lends its tokenised sentences;
        `ranker` weighs what is read of each candidate (default: the shipped one)."""
        self.stored = stored
        self.ranker = ranker or shipped_ranker()
        known: LexicalIndex | None = previous.lexical if previous is not None else None
        self.lexical: LexicalIndex = LexicalIndex([s.text for s in stored.sentences], known=known)
        # Sentence ids are numbered across documents in order, so each document is one id range.
        self.spans: list[tuple[int, int]] = []
        first = 0
        for document in stored.documents:
            self.spans.append((first, first + len(document.sentences)))
            first += len(document.sentences)
        # What was read of each sentence is lent by the index this one replaces, so a rebuilt library
        # reads only its new sentences.
        lent: dict[str, _Reading] = {}
        if previous is not None:
            lent = dict(zip((s.text for s in previous.stored.sentences), previous._readings, strict=True))
        self._readings: list[_Reading] = [lent.get(s.text) or _Reading.of(s.text) for s in stored.sentences]
        self._previous, self._paragraph, self._paragraph_numbers = _neighbours(stored)
        self._paragraph_members: dict[int, list[int]] = {}
        for sentence_id, paragraph in enumerate(self._paragraph.tolist()):
            self._paragraph_members.setdefault(paragraph, []).append(sentence_id)
        self._paragraph_stem_sets: dict[int, frozenset[str]] = {}
        self._paragraph_vectors = _paragraph_means(stored_vectors(stored.vectors), self._paragraph)

    def paragraph_number(self, document: int, paragraph_index: int) -> int | None:
        """The library-wide number of paragraph `paragraph_index` of document number `document`."""
        return self._paragraph_numbers.get((document, paragraph_index))

    def retrieve(
        self,
        question: str,
        question_vector: np.ndarray,
        *,
        k: int = CANDIDATES,
        document: int | None = None,
        follow_up: FollowUp | None = None,
    ) -> Retrieval:
        """Rank the library's sentences, or only those of document number `document`.

        For a follow-up, `question_vector` already blends in the previous question (see the engine).
        """
        span = self.spans[document] if document is not None else None
        scores, ids = search(self.stored.vectors, question_vector.reshape(1, -1), k, span=span)
        dense = {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}
        match: LexicalMatch = self.lexical.match(question)
        weights = self._query_weights(match)
        written = [question, follow_up.previous_question] if follow_up is not None else [question]
        coverage, query_stems = match.coverage, match.query_stems
        matches = [match]
        if follow_up is not None:
            previous = self.lexical.match(follow_up.previous_question)
            matches.append(previous)
            kept = 1.0 - PREVIOUS_QUESTION_WEIGHT if weights else 0.0
            blended = {stem: kept * w for stem, w in weights.items()}
            for stem, w in self._query_weights(previous).items():
                blended[stem] = blended.get(stem, 0.0) + (1.0 - kept) * w
            weights = blended
            coverage = kept * match.coverage + (1.0 - kept) * previous.coverage
            query_stems = tuple(dict.fromkeys((*match.query_stems, *previous.query_stems)))
        for found in matches:
            self._add_dense(dense, self._lexical_top(found, k, span), question_vector)
        ranked = [i for i in dense if span is None or span[0] <= i < span[1]]
        # The sentence before one that opens on a pronoun is read as its context, not ranked itself.
        self._add_dense(dense, [int(self._previous[i]) for i in ranked if self._readings[i].pronoun], question_vector)
        paragraph_dense = self._paragraph_vectors @ question_vector
        focus = follow_up.paragraphs if follow_up is not None else frozenset()
        kind, asked = answer_kind(question), question_words(question)
        related = self._related(weights, written)
        best_bm25 = max((float(found.scores.max()) for found in matches if found.scores.size), default=0.0)
        kept_ids: list[int] = []
        rows: list[list[float]] = []
        for sentence_id in ranked:
            sentence = self.stored.sentences[sentence_id]
            if sentence.part in METADATA_ONLY_PARTS:
                continue
            reading = self._readings[sentence_id]
            stems_here = set(self.lexical.unit_stems(sentence_id))
            before = int(self._previous[sentence_id])
            stems_around = stems_here | set(self.lexical.unit_stems(before)) if before >= 0 else stems_here
            paragraph = int(self._paragraph[sentence_id])
            stems_paragraph = self._paragraph_stems(paragraph)
            related_share = sum(
                weights[stem] * max((value for other, value in near if other in stems_here), default=0.0)
                for stem, near in related.items()
                if stem not in stems_here
            )
            bm25 = max(float(found.scores[sentence_id]) for found in matches) if best_bm25 > 0 else 0.0
            rows.append(
                [
                    dense[sentence_id],
                    sum(w for stem, w in weights.items() if stem in stems_here),
                    sum(w for stem, w in weights.items() if stem in stems_around),
                    related_share,
                    float(paragraph_dense[paragraph]),
                    float(fit(kind, reading.cues, asked)),
                    dense[before] if reading.pronoun and before >= 0 else 0.0,
                    1.0 if paragraph in focus else 0.0,
                    1.0 if sentence.part == "title" else 0.0,
                    1.0 if reading.fragment and sentence.part != "title" else 0.0,
                    bm25 / best_bm25 if best_bm25 > 0 else 0.0,
                    sum(w for stem, w in weights.items() if stem in stems_paragraph),
                    1.0 if before < 0 else 0.0,
                    min(len(sentence.text.split()), 60) / 60,
                    0.0,  # dense_gap, once the best cosine is known
                ]
            )
            kept_ids.append(sentence_id)
        if not rows:
            return Retrieval((), coverage, query_stems)
        features = np.array(rows, dtype=np.float64)
        features[:, _DENSE_GAP] = features[:, 0] - features[:, 0].max()
        scores = self.ranker.score(features)
        dense_column, share_column = features[:, 0].tolist(), features[:, 1].tolist()
        candidates = [
            Candidate(sentence_id, dense_column[n], share_column[n], score, features[n])
            for n, (sentence_id, score) in enumerate(zip(kept_ids, scores.tolist(), strict=True))
        ]
        candidates.sort(key=lambda c: c.score, reverse=True)
        return Retrieval(tuple(candidates), coverage, query_stems)

    def _paragraph_stems(self, paragraph: int) -> frozenset[str]:
        """The stems of a paragraph's sentences (read once per paragraph, when first asked)."""
        found = self._paragraph_stem_sets.get(paragraph)
        if found is None:
            ids = self._paragraph_members[paragraph]
            found = frozenset(stem for i in ids for stem in self.lexical.unit_stems(i))
            self._paragraph_stem_sets[paragraph] = found
        return found

    def _lexical_top(self, match: LexicalMatch, k: int, span: tuple[int, int] | None) -> list[int]:
        """The ids of the `k` best BM25 matches, within `span` when given."""
        scores = match.scores
        if span is not None:
            scores = np.zeros_like(scores)
            scores[span[0] : span[1]] = match.scores[span[0] : span[1]]
        if not scores.size or float(scores.max()) <= 0:
            return []
        return [int(i) for i in np.argsort(-scores)[:k] if scores[i] > 0]

    def _add_dense(self, dense: dict[int, float], ids: list[int], question_vector: np.ndarray) -> None:
        """Dense scores for sentences outside the dense top-k, read back from the index."""
        missing = [i for i in dict.fromkeys(ids) if i >= 0 and i not in dense]
        if missing:
            vectors = np.vstack([self.stored.vectors.reconstruct(i) for i in missing])
            for i, value in zip(missing, vectors @ question_vector, strict=True):
                dense[i] = float(value)

    def _related(self, weights: dict[str, float], texts: list[str]) -> dict[str, tuple[tuple[str, float], ...]]:
        """The related words of each weighted question stem that the asker wrote (not typo-repaired)."""
        written = {stem for text in texts for stem in stems(words(text))}
        table = self.stored.related
        return {stem: table[stem] for stem in weights if stem in written and stem in table}

    def _query_weights(self, match: LexicalMatch) -> dict[str, float]:
        """Each distinct question stem's share of the question's idf mass (words the corpus lacks count too)."""
        distinct = set(match.query_stems)
        idf = {stem: self.lexical.idf(stem) for stem in distinct}
        total = sum(idf.values())
        return {stem: value / total for stem, value in idf.items()} if total > 0 else {}


@dataclass(frozen=True)
class _Reading:
    """What the ranking reads of a sentence on its own, once, when a library is loaded."""

    cues: SentenceCues
    pronoun: bool  # opens on "It", "They"…: read with the sentence before it
    fragment: bool

    @classmethod
    def of(cls, text: str) -> _Reading:
        return cls(sentence_cues(text), bool(_LEADING_PRONOUN.match(text)), is_fragment(text))


def is_fragment(text: str) -> bool:
    """A short line that does not end as a sentence does: a heading, a label, a line of code."""
    return len(text.split()) < 8 and not _SENTENCE_END.search(text)


def _neighbours(stored: StoredIndex) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
    """For each sentence: the id of the sentence before it in its paragraph (-1 if none), and a
    paragraph number unique across the library; and those numbers by (document, paragraph index)."""
    count = len(stored.sentences)
    previous = np.full(count, -1, dtype=np.int64)
    paragraph = np.zeros(count, dtype=np.int64)
    keys: dict[tuple[int, int], int] = {}
    for number, sentence in enumerate(stored.sentences):
        paragraph[number] = keys.setdefault((stored.unit_documents[number], sentence.paragraph_index), len(keys))
        if number > 0 and paragraph[number - 1] == paragraph[number]:
            previous[number] = number - 1
    return previous, paragraph, keys


def _paragraph_means(vectors: np.ndarray, paragraph: np.ndarray) -> np.ndarray:
    """One unit vector per paragraph: the normalised mean of its sentence vectors."""
    count = int(paragraph.max()) + 1 if paragraph.size else 0
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, paragraph, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms > 0, norms, 1.0)

"""Lexical evidence: stemmed BM25 over sentences, with typo repair against the corpus vocabulary."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# Function words and question words carry no evidence that the article answers a question.
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't down during each few for from further had hadn't has hasn't have haven't having he he'd
    he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into
    is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only
    or other ought our ours ourselves out over own same shan't she she'd she'll she's should
    shouldn't so some such than that that's the their theirs them themselves then there there's
    these they they'd they'll they're they've this those through to too under until up very was
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while
    who who's whom why why's will with won't would wouldn't you you'd you'll you're you've your yours
    yourself yourselves s t whats wat wht tell me please article say says said thing things
    know explain give get got go going anything something yet still also just really like
    many much
    """.split()
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_TYPO_MIN_LEN = 5
_TYPO_VOCAB_LIMIT = 200_000


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased content words, possessives folded ("carney's" -> "carney")."""
    out = []
    for raw in _WORD.findall(text.lower()):
        word = raw[:-2] if raw.endswith(("'s", "’s")) else raw
        if word and word not in STOPWORDS:
            out.append(word)
    return out


def stems(tokens: Sequence[str]) -> list[str]:
    return list(_stemmer().stemWords(list(tokens)))


def _tokenise(text: str) -> tuple[list[str], list[str]]:
    unit_words = words(text)
    return unit_words, stems(unit_words)


@dataclass(frozen=True)
class LexicalMatch:
    """BM25 scores for every unit, and how much of the question the corpus covers at all."""

    scores: np.ndarray
    coverage: float  # idf-weighted share of the question's content stems present in the corpus
    query_stems: tuple[str, ...]


class BM25:
    """BM25 in its Lucene form (k1 1.5, b 0.75; the scores bm25s gives), over precomputed postings.

    Each term's (unit, score) postings are computed once at build time, so scoring a question is a
    few numpy additions, and building is one pass over the units.
    """

    PLACEHOLDER = "\u2400"  # an empty unit counts as one token, as bm25s counts it

    def __init__(self, units: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75) -> None:
        self._vocab: dict[str, int] = {}
        docs: list[int] = []
        terms: list[int] = []
        tfs: list[int] = []
        lengths = np.empty(max(1, len(units)), dtype=np.float64)
        lengths[:] = 1.0
        for d, unit in enumerate(units):
            tokens = unit or [self.PLACEHOLDER]
            lengths[d] = len(tokens)
            for term, count in Counter(tokens).items():
                docs.append(d)
                terms.append(self._vocab.setdefault(term, len(self._vocab)))
                tfs.append(count)
        self._n = len(units)
        term_ids = np.asarray(terms, dtype=np.int64)
        doc_ids = np.asarray(docs, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(term_ids, minlength=len(self._vocab)).astype(np.float64)
        idf = np.log(1.0 + (self._n - df + 0.5) / (df + 0.5))
        norm = k1 * ((1.0 - b) + b * lengths[doc_ids] / lengths[: max(1, self._n)].mean())
        values = idf[term_ids] * tf / (tf + norm)
        order = np.argsort(term_ids, kind="stable")
        self._docs = doc_ids[order]
        self._values = values[order].astype(np.float32)
        self._indptr = np.concatenate([[0], np.cumsum(df.astype(np.int64))])

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """The BM25 score of every unit for `query` (a repeated term counts again, as in bm25s)."""
        out = np.zeros(self._n, dtype=np.float32)
        for term in query:
            t = self._vocab.get(term)
            if t is None:
                continue
            start, end = self._indptr[t], self._indptr[t + 1]
            out[self._docs[start:end]] += self._values[start:end]  # a term lists each unit once
        return out


class LexicalIndex:
    """BM25 over stemmed content words of each unit, with typo repair against the corpus words."""

    def __init__(self, texts: Sequence[str], *, known: LexicalIndex | None = None) -> None:
        """Index `texts`; units that `known` (the index this one replaces) already tokenised are reused."""
        reuse = known._tokens_by_text() if known is not None else {}
        tokens = [reuse.get(t) or _tokenise(t) for t in texts]
        self._texts = list(texts)
        unit_words = [w for w, _ in tokens]
        self._unit_words = unit_words
        self._unit_stems = [s for _, s in tokens]
        self._surface = Counter(w for ws in unit_words for w in ws)
        self._df = Counter(s for unit in self._unit_stems for s in set(unit))
        self._n = max(1, len(texts))
        self._bm25 = BM25(self._unit_stems)
        self._by_initial: dict[str, list[str]] = {}
        if len(self._surface) <= _TYPO_VOCAB_LIMIT:
            for word in sorted(self._surface):
                self._by_initial.setdefault(word[0], []).append(word)

    def unit_stems(self, unit: int) -> list[str]:
        """The stemmed content words of unit number `unit`."""
        return self._unit_stems[unit]

    def _tokens_by_text(self) -> dict[str, tuple[list[str], list[str]]]:
        return {t: (w, s) for t, w, s in zip(self._texts, self._unit_words, self._unit_stems, strict=True)}

    def repair_typos(self, tokens: Sequence[str]) -> list[str]:
        """Replace words the corpus lacks by a close corpus word ("tarrifs" -> "tariffs")."""
        repaired = []
        for token in tokens:
            if token in self._surface or len(token) < _TYPO_MIN_LEN or not self._by_initial:
                repaired.append(token)
                continue
            if stems([token])[0] in self._df:
                repaired.append(token)
                continue
            repaired.append(self._closest(token) or token)
        return repaired

    def _closest(self, token: str) -> str | None:
        """The most frequent corpus word within a small edit distance, same first letter."""
        budget = 1 if len(token) < 7 else 2
        best: tuple[int, int, str] | None = None
        for word in self._by_initial.get(token[0], ()):
            if abs(len(word) - len(token)) > 1:
                continue
            distance = edit_distance(token, word, budget)
            if distance <= budget:
                key = (distance, -self._surface[word], word)
                if best is None or key < best:
                    best = key
        return best[2] if best else None

    def idf(self, stem: str) -> float:
        df = self._df.get(stem, 0)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    def match(self, question: str) -> LexicalMatch:
        query = stems(self.repair_typos(words(question)))
        if not query:
            return LexicalMatch(np.zeros(self._n, dtype=np.float32), 0.0, ())
        present = [s for s in query if s in self._df]
        total = sum(self.idf(s) for s in query)
        coverage = sum(self.idf(s) for s in present) / total if total else 0.0
        scores = self._bm25.scores(present) if present else np.zeros(self._n, dtype=np.float32)
        return LexicalMatch(scores, coverage, tuple(query))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours counts 1), stopping past `limit`."""
    previous2: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]

"""Related terms: the library's own words that mean nearly what a question's word means.

A member asks "what religion were the Normans?"; the sentence that answers says "Catholicism", and
shares no other word with the question that another sentence lacks. Lexical evidence alone cannot
see that the two words belong together, and the sentence's embedding is diluted by everything else it
says. So each build embeds every distinct word of the library once, with the same model, and keeps
for each word the few other words of the library whose vectors are close. A sentence that lacks a
question's word but has a close relative of it gets part of that word's credit (see retrieve.py).

Only the library's own vocabulary is used: nothing is learned, nothing is downloaded, and a word
means what it means in these documents. The table is computed at build time, so answering costs
a dictionary lookup.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .lexical import stems, words

log = logging.getLogger(__name__)

# Cosine of two word vectors at or above which the words count as related; measured on the dev sets
# (docs/answer-quality.md): 0.55 lets in loose associations, 0.7 misses plain synonyms.
RELATED_THRESHOLD = 0.6
RELATED_LIMIT = 8  # related words kept per word, closest first
# Cells of the word-by-word similarity computed at once: about 50 MB with the partition's indices,
# however large the library's vocabulary.
_BLOCK_CELLS = 4_000_000

_COUNT_CHUNK = 2000  # sentences tokenised at once

RelatedTerms = Mapping[str, tuple[tuple[str, float], ...]]


def vocabulary(texts: Iterable[str]) -> dict[str, str]:
    """Each stem of the texts' content words, with the form it most often takes (the one embedded).

    Numbers and words with digits are left out: "1169" and "1170" embed close together, but one is
    no evidence for the other.
    """
    counts: Counter[str] = Counter()
    remaining = iter(texts)
    while chunk := list(itertools.islice(remaining, _COUNT_CHUNK)):  # few large passes: a library is large
        counts.update(w for w in words("\n".join(chunk)) if w.isalpha())
    distinct = sorted(counts)
    forms: dict[str, tuple[int, str]] = {}
    for word, stem in zip(distinct, stems(distinct), strict=True):
        best = forms.get(stem)
        if best is None or counts[word] > best[0]:  # ties: the alphabetically first form
            forms[stem] = (counts[word], word)
    return {stem: forms[stem][1] for stem in sorted(forms)}


def related_terms(
    terms: Sequence[str],
    vectors: np.ndarray,
    *,
    threshold: float = RELATED_THRESHOLD,
    limit: int = RELATED_LIMIT,
) -> dict[str, tuple[tuple[str, float], ...]]:
    """For each term (row of `vectors`, unit length), up to `limit` other terms at cosine ≥ `threshold`."""
    table: dict[str, tuple[tuple[str, float], ...]] = {}
    count = len(terms)
    if count < 2:
        return table
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    keep = min(limit, count - 1)
    rows_per_block = max(1, _BLOCK_CELLS // count)
    for start in range(0, count, rows_per_block):
        block = matrix[start : start + rows_per_block] @ matrix.T
        rows = np.arange(block.shape[0])
        block[rows, rows + start] = -1.0  # a word is not its own relative
        closest = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        for row, candidates in enumerate(closest):
            found = sorted(
                ((float(block[row, j]), int(j)) for j in candidates if block[row, j] >= threshold), reverse=True
            )
            if found:
                table[terms[start + row]] = tuple((terms[j], round(value, 4)) for value, j in found)
    return table


def related_to_json(table: RelatedTerms) -> dict[str, list[list[Any]]]:
    return {term: [[other, value] for other, value in near] for term, near in table.items()}


def related_from_json(data: Any) -> dict[str, tuple[tuple[str, float], ...]]:
    """The table as written by `related_to_json`; raises ValueError when it is not that shape."""
    if not isinstance(data, dict):
        raise ValueError("related terms are not a mapping")
    # Each word is the relative of several others: one string object for all of them saves memory.
    return {
        sys.intern(str(term)): tuple((sys.intern(str(other)), float(value)) for other, value in near)
        for term, near in data.items()
    }


class WordVectors:
    """The vectors of the library's words from earlier builds, so a build embeds only new words.

    One .npz file per model beside the embedding cache; an unreadable file only costs embedding the
    words again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                known, matrix = list(data["words"]), data["vectors"]
        except (OSError, ValueError, KeyError) as exc:
            if self.path.exists():
                log.warning("Ignoring a damaged word vector cache %s: %s", self.path.name, exc)
            return {}
        if matrix.ndim != 2 or matrix.shape[0] != len(known) or not np.isfinite(matrix).all():
            return {}
        return {str(word): matrix[n] for n, word in enumerate(known)}

    def save(self, vectors: Mapping[str, np.ndarray]) -> None:
        if not vectors:
            return
        known = sorted(vectors)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.npz")
            np.savez(tmp, words=np.array(known), vectors=np.vstack([vectors[w] for w in known]).astype(np.float32))
            os.replace(tmp, self.path)


def build_related_terms(
    texts: Iterable[str], embedder: Embedder, cache: WordVectors | None = None, *, batch_size: int = 256
) -> dict[str, tuple[tuple[str, float], ...]]:
    """The related-terms table of a library: embed its words (those not cached), then compare them."""
    forms = vocabulary(texts)
    if len(forms) < 2:
        return {}
    known = cache.load() if cache is not None else {}
    missing = sorted({form for form in forms.values() if form not in known})
    if missing:
        fresh = embedder.encode(missing, batch_size=batch_size)
        known.update(zip(missing, np.asarray(fresh, dtype=np.float32), strict=True))
    terms = list(forms)
    matrix = np.vstack([known[forms[term]] for term in terms])
    current = set(forms.values())
    if cache is not None and (missing or len(known) != len(current)):  # new words, or words gone
        cache.save({form: known[form] for form in current})
    return related_terms(terms, matrix)

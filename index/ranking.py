"""How candidate sentences are ranked: a weighted sum of what the ranking reads of each one.

The weights are learned from examples (`citebot train-ranker`, index/learn_rank.py) and shipped in
`ranker.json` beside this module; without that file the hand-set weights below rank as before.
The same file carries what was set with them, held out by article: the sureness threshold (an
answer is sure when its score plus twice its lead over the next sentence reaches it) and how far
below the first closest passage a second may rank and still be quoted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

# What the ranking reads of a candidate sentence, in this order (see retrieve.py for each).
FEATURES = (
    "dense",  # cosine of the sentence and the question
    "coverage",  # idf-weighted share of the question's words the sentence has
    "context_coverage",  # the same over the sentence and the one before it in its paragraph
    "related",  # credit for question words the sentence has a close relative of (related.py)
    "paragraph_dense",  # cosine of the paragraph (mean of its sentence vectors)
    "answer_kind",  # +1/-1 when it can/cannot hold the date, number or name asked for
    "pronoun_context",  # cosine of the sentence before one that opens on a pronoun
    "focus",  # 1 in a paragraph the previous answer of a follow-up quoted
    "title",  # 1 for the headline
    "fragment",  # 1 for a heading, a label or a line of code
    "bm25",  # its BM25 score over the best BM25 score of the library for this question
    "paragraph_coverage",  # share of the question's words found anywhere in its paragraph
    "first_in_paragraph",  # 1 for a paragraph's first sentence
    "length",  # its length in words, up to 60, over 60
    "dense_gap",  # its cosine minus the best cosine of any candidate
)
HAND_WEIGHTS = {
    "dense": 1.0,
    "coverage": 0.5,
    "context_coverage": 0.5,
    "related": 0.8,
    "paragraph_dense": 0.5,
    "answer_kind": 0.2,
    "pronoun_context": 0.5,
    "focus": 0.15,
    "title": -0.5,
    "fragment": -0.3,
}
# Follow-ups are rare in the examples: the focus weight stays as set by hand.
FIXED = frozenset({"focus"})
SHIPPED = Path(__file__).with_name("ranker.json")


@dataclass(frozen=True)
class Ranker:
    """Feature weights (by FEATURES order) and, when learned, the thresholds set with them."""

    weights: np.ndarray
    sure_above: float | None = None  # the sureness from which an answer is shown as sure
    trained: dict[str, Any] = field(default_factory=dict)  # how it was made: data, figures
    # How far below the first of the closest passages a second may rank and still be quoted.
    closest_margin: float | None = None

    def score(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights

    @classmethod
    def by_hand(cls) -> Ranker:
        return cls(np.array([HAND_WEIGHTS.get(name, 0.0) for name in FEATURES], dtype=np.float64))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "features": dict(zip(FEATURES, (round(float(w), 6) for w in self.weights), strict=True)),
            "trained": self.trained,
        }
        if self.sure_above is not None:
            data["sure_above"] = self.sure_above
        if self.closest_margin is not None:
            data["closest_margin"] = "inf" if math.isinf(self.closest_margin) else self.closest_margin
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ranker:
        weights = np.array([float(data["features"].get(name, 0.0)) for name in FEATURES], dtype=np.float64)
        sure_above = float(data["sure_above"]) if "sure_above" in data else None
        margin = float(data["closest_margin"]) if "closest_margin" in data else None
        return cls(weights, sure_above, dict(data.get("trained", {})), margin)


@lru_cache(maxsize=1)
def shipped_ranker() -> Ranker:
    """The ranker shipped with citebot (learned), or the hand-set weights when there is none."""
    if not SHIPPED.is_file():
        return Ranker.by_hand()
    return Ranker.from_json(json.loads(SHIPPED.read_text("utf-8")))

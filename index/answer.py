"""Compose a cited answer from retrieved sentences, or abstain when the document does not answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .documents import Document, DocumentMeta, Sentence
from .retrieve import Candidate, Retrieval

NOT_ANSWERED = "The document does not answer that."


@dataclass(frozen=True)
class AnswerPolicy:
    """When to answer and how much to quote. Defaults come from `citebot eval --calibrate`."""

    min_confidence: float = 0.53
    coverage_weight: float = 0.9
    max_citations: int = 3
    # A further sentence is quoted only if it scores this close to the best one.
    follow_ratio: float = 0.85


@dataclass(frozen=True)
class Citation:
    """One verbatim excerpt and where it stands in the document."""

    n: int
    paragraph: int
    part: str
    text: str
    score: float

    @property
    def label(self) -> str:
        return f"¶{self.paragraph}" if self.part == "body" else self.part

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "paragraph": self.paragraph, "part": self.part, "text": self.text, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Evidence:
    """The two signals behind the answer-or-abstain decision, kept for calibration."""

    best_dense: float
    coverage: float


@dataclass(frozen=True)
class Answer:
    """What the engine says to a question: verbatim citations, or an abstention."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    source: DocumentMeta | None
    confidence: float = 0.0
    evidence: Evidence | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        source = {"title": "", "author": None, "date": None}
        if self.source is not None:
            source = {"title": self.source.title, "author": self.source.author, "date": self.source.date}
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
            "source": source,
            "confidence": round(self.confidence, 4),
            "timing_ms": {k: round(v, 2) for k, v in self.timing_ms.items()},
        }


# Questions about the document itself rather than its content.
_ASKS_AUTHOR = re.compile(
    r"^(who\s+(wrote|writes|authored|penned)\b"
    r"|who\s*(is|'s|’s|was|s)?\s*the\s+(author|writer|journalist|reporter)(\s+of\s+(this|the)\s+\w+)?\s*\??$"
    r"|(what\s+is\s+|what'?s\s+|whats\s+)?(the\s+)?(author|writer|byline)(\s*'?s)?(\s+name)?\s*\??$"
    r"|(written|authored)\s+by\s+(who|whom)\b"
    r"|by\s+whom\b)",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(
    r"(when\s+(was|is|did)\s+(it|this|the\s+(article|story|piece|document))\s+(published|written|posted|come\s+out|released|dated)"
    r"|(publication|publish(ed)?|release)\s+date"
    r"|what\s+(date|day)\s+(is|was)\s+(it|this|the\s+(article|story|piece))(\s+(from|published|written))?\s*\??$"
    r"|date\s+of\s+(the\s+)?(article|story|piece|publication))",
    re.IGNORECASE,
)
_ASKS_TITLE = re.compile(
    r"^(what\s+is\s+|what'?s\s+|whats\s+)?(the\s+)?(headline|title)(\s+of\s+(the|this)\s+(article|story|piece|document))?\s*\??$",
    re.IGNORECASE,
)
_METADATA_PARTS = (("byline", _ASKS_AUTHOR), ("dateline", _ASKS_DATE), ("title", _ASKS_TITLE))


def metadata_part(question: str) -> str | None:
    """The front-matter part a question asks for ("who wrote this?" -> "byline"), if any."""
    text = " ".join(question.strip().split())
    for part, pattern in _METADATA_PARTS:
        if pattern.search(text):
            return part
    return None


def confidence_of(retrieval: Retrieval, policy: AnswerPolicy) -> float:
    """How sure we are that the best sentence answers: dense similarity plus lexical coverage."""
    best = retrieval.best
    if best is None:
        return 0.0
    return best.dense + policy.coverage_weight * retrieval.coverage


def evidence_of(retrieval: Retrieval) -> Evidence:
    best = retrieval.best
    return Evidence(best.dense if best else 0.0, retrieval.coverage)


def compose(
    question: str,
    retrieval: Retrieval,
    sentences: tuple[Sentence, ...],
    document_of: Any,
    policy: AnswerPolicy,
) -> Answer:
    """Quote the best one to `max_citations` sentences, or abstain below `min_confidence`."""
    confidence = confidence_of(retrieval, policy)
    evidence = evidence_of(retrieval)
    best = retrieval.best
    if best is None or confidence < policy.min_confidence:
        return abstain(question, document_of(best.sentence_id).meta if best else None, confidence, evidence)
    chosen: list[Candidate] = [best]
    document = document_of(best.sentence_id)
    for candidate in retrieval.candidates[1:]:
        if len(chosen) >= policy.max_citations:
            break
        if candidate.score < best.score * policy.follow_ratio:
            break
        if document_of(candidate.sentence_id) is document:
            chosen.append(candidate)
    return _answer_from(question, [(sentences[c.sentence_id], c.score) for c in chosen], document, confidence, evidence)


def compose_metadata(question: str, part: str, document: Document) -> Answer | None:
    """Answer "who wrote this?"-style questions from the document's own front matter."""
    sentence = next((s for s in document.sentences if s.part == part), None)
    if sentence is None:
        return None
    return _answer_from(question, [(sentence, 1.0)], document, 1.0)


def abstain(question: str, source: DocumentMeta | None, confidence: float, evidence: Evidence | None = None) -> Answer:
    return Answer(question, NOT_ANSWERED, True, (), source, confidence, evidence)


def _answer_from(question: str, picked: list[tuple[Sentence, float]], document: Document, confidence: float,
                 evidence: Evidence | None = None) -> Answer:
    citations = tuple(
        Citation(n, s.paragraph, s.part, s.text, float(score)) for n, (s, score) in enumerate(picked, start=1)
    )
    text = " ".join(c.text for c in citations)
    return Answer(question, text, False, citations, document.meta, confidence, evidence)


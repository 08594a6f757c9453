"""Compose a cited answer from retrieved sentences, or abstain when the document does not answer."""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .documents import Document, DocumentMeta, Sentence, paragraph_label
from .errors import QuestionRejected
from .lexical import stems, words
from .ranking import shipped_ranker
from .retrieve import Candidate, Retrieval
from .store import StoredIndex

NOT_ANSWERED = "The document does not answer that."


_SHIPPED = shipped_ranker()
# Set with the shipped ranking, held out by article (learn_rank.py); 2.3 suits the hand-set weights.
SURE_ABOVE = _SHIPPED.sure_above if _SHIPPED.sure_above is not None else 2.3
CLOSEST_MARGIN = _SHIPPED.closest_margin if _SHIPPED.closest_margin is not None else math.inf


@dataclass(frozen=True)
class AnswerPolicy:
    """When to answer and how much to quote. `min_confidence` and `coverage_weight` come from
    `citebot eval --calibrate`; `sure_above` and `closest_margin` from `citebot train-ranker`."""

    min_confidence: float = 0.53
    coverage_weight: float = 0.9
    # An answer is sure when its ranking score plus `margin_weight` times its lead over the next
    # sentence reaches `sure_above`; below, it is shown as the closest passage, not as the answer.
    sure_above: float = SURE_ABOVE
    margin_weight: float = 2.0
    max_citations: int = 3
    # A further sentence is quoted only if it ranks within this of the best one, and fits the budget.
    follow_margin: float = 0.3
    max_quote_chars: int = 450
    # An answer it is not sure of shows the closest passages, this many however far apart their
    # scores (the right one is often second), within a larger budget.
    closest_citations: int = 2
    max_closest_chars: int = 1000
    # … and a further one only when it ranks within this of the first (else it is unlikely to be
    # the answer, and only lengthens the quote).
    closest_margin: float = CLOSEST_MARGIN

    def sureness(self, evidence: Evidence) -> float:
        return evidence.score + self.margin_weight * evidence.margin


@dataclass(frozen=True)
class Citation:
    """One verbatim excerpt and where it stands in the document."""

    n: int
    paragraph: int
    part: str
    text: str
    score: float
    document: str = ""  # the title of the document it is quoted from
    url: str | None = None  # the page that document was fetched from, if it was
    # Where to find the quote again (e.g. "show the paragraph" after a restart): the document's key
    # in its library, the paragraph's position in the document, the sentence's position in it.
    key: str = ""
    paragraph_index: int = -1
    ordinal: int = 0
    page: int | None = None  # the page its paragraph starts on, in a paged document (PDF)

    @property
    def label(self) -> str:
        return paragraph_label(self.part, self.paragraph, self.page)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "paragraph": self.paragraph,
            "part": self.part,
            "text": self.text,
            "score": round(self.score, 4),
            "document": self.document,
            "url": self.url,
            "key": self.key,
            "page": self.page,
        }


@dataclass(frozen=True)
class Exchange:
    """A question and the paragraphs its answer quoted: the context a follow-up is read in."""

    question: str
    paragraphs: tuple[tuple[str, int], ...] = ()  # (document key, paragraph index)


@dataclass(frozen=True)
class Evidence:
    """The two signals behind the answer-or-abstain decision, kept for calibration."""

    best_dense: float
    coverage: float
    score: float = 0.0  # the ranking score of the quoted sentence
    margin: float = 0.0  # how far it ranks above the next sentence


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
    # Quoted as the closest passage rather than as the answer: the ranking is not sure of it.
    uncertain: bool = False
    summary: bool = False  # the document's own summary sentences, not an answer to a question

    # The titles of the documents searched, so an abstention can name what does not answer.
    searched_titles: tuple[str, ...] = ()

    def exchange(self) -> Exchange:
        """What a follow-up to this answer is read against."""
        cited = tuple(dict.fromkeys((c.key, c.paragraph_index) for c in self.citations if c.key))
        return Exchange(self.question, cited)

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
            "uncertain": self.uncertain,
            "summary": self.summary,
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
    return retrieval.best_dense + policy.coverage_weight * retrieval.coverage


def evidence_of(retrieval: Retrieval) -> Evidence:
    best = retrieval.best
    return Evidence(retrieval.best_dense, retrieval.coverage, best.score if best else 0.0, retrieval.margin)


MAX_QUESTION_CHARS = 1000


def clean_question(question: str) -> str:
    """Strip control, zero-width and lone surrogate characters and cap the length; refuse an empty question."""
    kept = "".join(ch for ch in question if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "\n\t")
    text = " ".join(kept.split())[:MAX_QUESTION_CHARS]
    if not any(ch.isalnum() for ch in text):
        raise QuestionRejected("Ask a question in words, for example: why did relations rupture?")
    return text


def respond(
    question: str, retrieval: Retrieval, stored: StoredIndex, policy: AnswerPolicy, only: int | None, follow_up: bool
) -> Answer:
    """The answer to a retrieved question: composed, or an abstention naming what was searched.

    A question with no word the library knows abstains unless its meaning alone is close (or it
    follows up on an earlier exchange, whose words it borrows)."""
    wordless = not retrieval.query_stems and (retrieval.best is None or retrieval.best.dense < 0.5)
    if wordless and not follow_up:
        result = abstain(question, stored.documents[only or 0].meta if stored.documents else None, 0.0)
    else:
        result = compose(question, retrieval, stored, policy)
    if result.abstained:
        searched = stored.documents if only is None else (stored.documents[only],)
        result = dataclasses.replace(result, searched_titles=tuple(d.meta.title for d in searched))
    return result


def compose(question: str, retrieval: Retrieval, stored: StoredIndex, policy: AnswerPolicy) -> Answer:
    """Quote the best one to `max_citations` sentences, or abstain below `min_confidence`.

    A sure answer quotes further sentences only when they rank close to the best one and stay within
    the quote budget. An answer the ranking is not sure of is marked `uncertain` and shows the two
    closest passages, since the right one is then often the second. Quotes may come from several
    documents of the library; each citation names its document.
    """
    confidence = confidence_of(retrieval, policy)
    evidence = evidence_of(retrieval)
    best = retrieval.best
    if best is None or confidence < policy.min_confidence:
        return abstain(question, stored.document_of(best.sentence_id).meta if best else None, confidence, evidence)
    uncertain = policy.sureness(evidence) < policy.sure_above
    chosen = _closest(retrieval, stored, policy) if uncertain else _close_to_best(retrieval, stored, policy)
    picked = [quoted_from(stored, c.sentence_id, c.score) for c in chosen]
    answer = _answer_from(question, picked, stored.document_of(best.sentence_id).meta, confidence, evidence)
    return dataclasses.replace(answer, uncertain=uncertain)


def _close_to_best(retrieval: Retrieval, stored: StoredIndex, policy: AnswerPolicy) -> list[Candidate]:
    """The best sentence, and further ones that rank within `follow_margin` of it and fit the budget."""
    best = retrieval.candidates[0]
    chosen = [best]
    quoted = len(stored.sentences[best.sentence_id].text)
    for candidate in retrieval.candidates[1:]:
        if len(chosen) >= policy.max_citations or best.score - candidate.score > policy.follow_margin:
            break
        length = len(stored.sentences[candidate.sentence_id].text)
        if quoted + length <= policy.max_quote_chars:
            chosen.append(candidate)
            quoted += length
    return chosen


def _closest(retrieval: Retrieval, stored: StoredIndex, policy: AnswerPolicy) -> list[Candidate]:
    """The `closest_citations` best sentences, as many as fit `max_closest_chars` (the first always)."""
    chosen: list[Candidate] = []
    quoted = 0
    for candidate in retrieval.candidates[: policy.closest_citations]:
        length = len(stored.sentences[candidate.sentence_id].text)
        if chosen and (
            quoted + length > policy.max_closest_chars or chosen[0].score - candidate.score > policy.closest_margin
        ):
            break
        chosen.append(candidate)
        quoted += length
    return chosen


# At most this many documents are named when "who wrote it?" does not say which document it means.
MAX_METADATA_DOCUMENTS = 5
_METADATA_WORDS = (
    "who wrote written write writes author authored writer journalist reporter byline penned name "
    "when published publish publication date dated posted released release come out day headline title "
    "what is was the this that of it article story piece document by whom"
)


@lru_cache(maxsize=1)
def _metadata_stems() -> frozenset[str]:
    return frozenset(stems(words(_METADATA_WORDS)))


def answer_metadata(question: str, part: str, stored: StoredIndex, only: int | None) -> Answer | None:
    """Answer "who wrote this?"-style questions from front matter: of the document the question is
    about, or of each document (a few) when that is not clear."""
    documents = stored.documents
    if only is not None:
        candidates = [only]
    elif len(documents) == 1:
        candidates = [0]
    else:
        candidates = _documents_named(question, documents) or list(range(min(len(documents), MAX_METADATA_DOCUMENTS)))
    picked = []
    for number in candidates:
        document = documents[number]
        sentence = next((s for s in document.sentences if s.part == part), None)
        if sentence is not None:
            picked.append(Quoted(sentence, document, stored.document_key(number), 1.0))
    if not picked:
        return None
    source = picked[0].document.meta if len(picked) == 1 else None
    return _answer_from(question, picked, source, 1.0)


@dataclass(frozen=True)
class Quoted:
    """A sentence chosen to be quoted, with its document and that document's key."""

    sentence: Sentence
    document: Document
    key: str
    score: float

    @property
    def ordinal(self) -> int:
        """The sentence's position among its paragraph's sentences."""
        same = [s for s in self.document.sentences if s.paragraph_index == self.sentence.paragraph_index]
        return same.index(self.sentence) if self.sentence in same else 0


def quoted_from(stored: StoredIndex, sentence_id: int, score: float) -> Quoted:
    number = stored.unit_documents[sentence_id]
    return Quoted(stored.sentences[sentence_id], stored.documents[number], stored.document_key(number), score)


def _documents_named(question: str, documents: tuple[Document, ...]) -> list[int]:
    """The one document whose title shares the most words with the question, if one stands out."""
    asked = set(stems(words(question))) - _metadata_stems()
    if not asked:
        return []
    overlaps = [(len(asked & set(stems(words(d.meta.title)))), n) for n, d in enumerate(documents)]
    overlaps.sort(reverse=True)
    best, number = overlaps[0]
    if best == 0 or (len(overlaps) > 1 and overlaps[1][0] == best):
        return []
    return [number]


def summary_answer(question: str, picked: list[Quoted], source: DocumentMeta | None) -> Answer:
    """A summary: the chosen sentences quoted in document order, each with its paragraph."""
    if not picked:
        return abstain(question, source, 0.0)
    return dataclasses.replace(_answer_from(question, picked, source, 1.0), summary=True)


def abstain(question: str, source: DocumentMeta | None, confidence: float, evidence: Evidence | None = None) -> Answer:
    return Answer(
        question,
        NOT_ANSWERED,
        True,
        (),
        source,
        confidence,
        evidence,
        searched_titles=(source.title,) if source else (),
    )


def _answer_from(
    question: str,
    picked: list[Quoted],
    source: DocumentMeta | None,
    confidence: float,
    evidence: Evidence | None = None,
) -> Answer:
    citations = tuple(
        Citation(
            n,
            q.sentence.paragraph,
            q.sentence.part,
            q.sentence.text,
            float(q.score),
            q.document.meta.title,
            q.document.meta.url,
            q.key,
            q.sentence.paragraph_index,
            q.ordinal,
            q.document.paragraphs[q.sentence.paragraph_index].page,
        )
        for n, q in enumerate(picked, start=1)
    )
    text = " ".join(c.text for c in citations)
    return Answer(question, text, False, citations, source, confidence, evidence)

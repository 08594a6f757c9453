"""Summaries in the document's own words: its standfirst, its lede, then its most central sentences.

Nothing is generated: a summary is a handful of verbatim sentences, each cited, in document order.
"Central" is closeness to the mean of the body's sentence vectors; a sentence too close to one
already chosen is skipped, so the summary does not say the same thing twice.
"""

from __future__ import annotations

import re

import numpy as np

from .documents import BODY, Document, Sentence

_DOCUMENT_WORDS = r"(article|document|documents|docs?|story|piece|page|text)"
# "What is this about?", "summarize", "tl;dr", "main points", "give me the gist"…
_ASKS_SUMMARY = re.compile(
    r"^\W*(can\s+you\s+|could\s+you\s+|please\s+|pls\s+)?("
    r"tl\s*;?\s*dr|summar(y|ise|ize|ies)|sum\s+(it|this)\s+up|recap|overview|gist|synopsis|"
    r"(give\s+me\s+|what\s+are\s+|what'?s\s+)?(the\s+)?(main|key|major)\s+(points?|ideas?|takeaways?|facts?)|"
    r"(give\s+me\s+)?(the\s+|a\s+)?(short\s+|quick\s+|brief\s+)?(summary|rundown|gist|overview)|"
    r"(what'?s|what\s+(is|are))\s+{subject}\s+(about|saying)|"
    r"what\s+(does|do)\s+{subject}\s+say"
    r")\b".replace("{subject}", r"(this|that|it|these|the)(\s+" + _DOCUMENT_WORDS + ")?"),
    re.IGNORECASE,
)
# Beyond a few words, "summarize the tariff dispute" asks about a topic, not for the whole document.
_MAX_SUMMARY_REQUEST_WORDS = 8

MAX_CENTRAL = 3
# A candidate this similar to a sentence already chosen repeats it.
REPEAT_SIMILARITY = 0.8
MIN_WORDS = 6


def asks_for_summary(question: str) -> bool:
    """Whether a question asks what the document is about, rather than something in it."""
    text = " ".join(question.split())
    if len(text.split()) > _MAX_SUMMARY_REQUEST_WORDS:
        return False
    match = _ASKS_SUMMARY.match(text)
    if match is None:
        return False
    rest = text[match.end() :].strip(" ?.!").lower()
    # "summary of the article", "tl;dr please" — but not "summarize the tariffs": that asks about a topic.
    return not rest or bool(
        re.fullmatch(r"((of|for)\s+)?(it|this|that|(the|this)\s+" + _DOCUMENT_WORDS + r")?\s*(please|pls)?", rest)
    )


def summary_sentences(document: Document, vectors: np.ndarray, *, central: int = MAX_CENTRAL) -> list[Sentence]:
    """The standfirst, the lede and up to `central` more central sentences, in document order.

    `vectors` are the document's sentence vectors (unit length), one row per `document.sentences`.
    """
    sentences = list(document.sentences)
    chosen: list[int] = [i for i, s in enumerate(sentences) if s.part == "standfirst"]
    body = [i for i, s in enumerate(sentences) if s.part == BODY]
    if body:
        chosen.append(body[0])  # the lede
    pool = [i for i in body[1:] if len(sentences[i].text.split()) >= MIN_WORDS]
    if pool and central > 0:
        centroid = vectors[body].mean(axis=0)
        norm = float(np.linalg.norm(centroid))
        closeness = vectors @ (centroid / norm) if norm > 0 else np.zeros(len(sentences))
        added = 0
        for i in sorted(pool, key=lambda i: -float(closeness[i])):
            if added >= central:
                break
            if chosen and float(np.max(vectors[chosen] @ vectors[i])) >= REPEAT_SIMILARITY:
                continue
            chosen.append(i)
            added += 1
    return [sentences[i] for i in sorted(set(chosen))]

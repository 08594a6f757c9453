"""Sentence splitting that keeps abbreviations, dates and times whole and returns verbatim spans."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_TIME_TAIL = re.compile(r"\b[ap]\.m\.$", re.IGNORECASE)
_TIME_ZONE_HEAD = re.compile(r"^(ET|EST|EDT|CT|PT|PST|PDT|GMT|UTC|BST|CET)\b")


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def _segment(paragraph: str) -> list[str]:
    # Segmenter.segment() also computes character spans with one freshly compiled regex per
    # sentence, which doubles the cost; its processor alone gives the sentences, and
    # _verbatim_spans maps them back onto the paragraph.
    segmenter = _segmenter()
    return [str(s) for s in segmenter.processor(paragraph).process()]


# pysbd's cost grows with the square of a paragraph's length, so long paragraphs are cut first, at
# a likely sentence end, into windows it splits one by one: linear in the paragraph's length.
WINDOW = 2000
_BOUNDARY = re.compile(r"[.!?…][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_NO_INNER_END = re.compile(r"[.!?…;:\n]")


def _windows(paragraph: str) -> list[str]:
    """Consecutive pieces of at most WINDOW characters, cut after a sentence end where there is one."""
    if len(paragraph) <= WINDOW:
        return [paragraph]
    windows: list[str] = []
    start, length = 0, len(paragraph)
    while length - start > WINDOW:
        limit = start + WINDOW
        cut = None
        for match in _BOUNDARY.finditer(paragraph, start + WINDOW // 2, limit):
            word = paragraph[paragraph.rfind(" ", start, match.start()) + 1 : match.start()]
            if not (len(word) <= 3 and word[:1].isupper()):  # "Mr.", "Dr.", "Jan." do not end sentences
                cut = match.end()
        if cut is None:
            space = paragraph.rfind(" ", start + WINDOW // 2, limit)
            cut = space + 1 if space > start else limit
        windows.append(paragraph[start:cut])
        start = cut
    windows.append(paragraph[start:])
    return windows


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences; each one is an exact substring of the paragraph."""
    if not paragraph.strip():
        return []
    if not _NO_INNER_END.search(paragraph, 0, len(paragraph.rstrip()) - 1):
        return [paragraph.strip()]  # nothing inside could end a sentence: one sentence, no pysbd
    return [sentence for window in _windows(paragraph) for sentence in _split_window(window)]


def _split_window(paragraph: str) -> list[str]:
    pieces = [p.strip() for p in _segment(paragraph) if p.strip()]
    merged: list[str] = []
    for piece in pieces:
        # pysbd ends a sentence after "a.m." even in "12:00 a.m. ET"; glue the zone back on.
        if merged and _TIME_TAIL.search(merged[-1]) and _TIME_ZONE_HEAD.match(piece):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return [s for s in _verbatim_spans(paragraph, merged)]


def _verbatim_spans(paragraph: str, pieces: list[str]) -> list[str]:
    """Map segmenter output back onto the paragraph so every sentence is exactly source text."""
    spans: list[str] = []
    cursor = 0
    for piece in pieces:
        start = paragraph.find(piece, cursor)
        if start < 0:
            # The segmenter altered whitespace; fall back to locating by the first word.
            head = piece.split()[0]
            start = paragraph.find(head, cursor)
            if start < 0:
                continue
            end = start + len(piece)
        else:
            end = start + len(piece)
        spans.append(paragraph[start:end].strip())
        cursor = end
    if not spans and paragraph.strip():
        return [paragraph.strip()]
    return [s for s in spans if s]  # each is a slice of the paragraph

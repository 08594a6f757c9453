"""Answer-type cues: "when…?" wants a date, "how many…?" a number, "who…?" a name.

A sentence that cannot hold the kind of answer a question asks for is unlikely to answer it, however
close its words; one that can is a little more likely. The cues are surface patterns of English text,
so they work on any document without a tagger or a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class AnswerKind(Enum):
    DATE = "date"
    NUMBER = "number"
    NAME = "name"


_ASKS_DATE = re.compile(
    r"^(in\s+|by\s+|since\s+|until\s+)?(what|which)\s+(year|century|decade|date|month|day|era|period)\b"
    r"|^when\b|\b(what|which)\s+(year|century|decade)\b|\bhow\s+long\s+ago\b",
    re.IGNORECASE,
)
_ASKS_NUMBER = re.compile(r"\bhow\s+(many|much|long|old|far|large|big|tall|high|often)\b", re.IGNORECASE)
_ASKS_NAME = re.compile(r"^(who|whom|whose)\b|\b(by|to|with|from|for)\s+whom\b", re.IGNORECASE)

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}}|\d{{1,4}}\s*(bc|bce|ad|ce)|\d+(st|nd|rd|th))\b|\b({_MONTHS}|centur(y|ies)|decades?)\b"
    r"|\b\d{2,4}s\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|several|half|once|twice)\b",
    re.IGNORECASE,
)
# A capitalised word that does not open the sentence (or follow a full stop inside it).
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][\w'’-]*")
_WORD = re.compile(r"[\w'’-]+")


def answer_kind(question: str) -> AnswerKind | None:
    """The kind of answer a question asks for, when its wording says so."""
    text = question.strip()
    if _ASKS_DATE.search(text):
        return AnswerKind.DATE
    if _ASKS_NUMBER.search(text):
        return AnswerKind.NUMBER
    if _ASKS_NAME.search(text):
        return AnswerKind.NAME
    return None


@dataclass(frozen=True)
class SentenceCues:
    """What kinds of answer a sentence can hold; computed once per sentence at load."""

    has_date: bool
    has_number: bool
    names: frozenset[str]  # capitalised words inside the sentence, lower-cased


def sentence_cues(text: str) -> SentenceCues:
    names = frozenset(m.group(0).lower() for m in _NAME.finditer(text.strip()))
    return SentenceCues(bool(_DATE.search(text)), bool(_NUMBER.search(text)), names)


def question_words(question: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(question))


def fit(kind: AnswerKind | None, cues: SentenceCues, asked: frozenset[str]) -> float:
    """+1 when the sentence can hold the asked-for kind, -1 when it cannot, 0 when the question is open.

    A name counts only if the question does not already say it: "who ruled Cyprus?" is not answered by
    a sentence whose only name is Cyprus.
    """
    if kind is None:
        return 0.0
    if kind is AnswerKind.DATE:
        ok = cues.has_date
    elif kind is AnswerKind.NUMBER:
        ok = cues.has_number
    else:
        ok = bool(cues.names - asked)
    return 1.0 if ok else -1.0

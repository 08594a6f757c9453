"""/insights: what members asked in a server and what they could not get answered. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from citebot.index.lexical import stems, words

from .conversation_store import Asked

# Two questions are the same question asked twice when they share this much of their content words.
SAME_QUESTION = 0.6
MAX_LISTED = 5


@dataclass(frozen=True)
class InsightsReport:
    days: int
    asked: int
    answered: int  # answered with confidence, or a summary
    uncertain: int  # answered with the closest passage only
    abstained: int
    unanswered: tuple[tuple[str, int], ...]  # near-duplicates grouped: (one wording, how many times)
    downvoted: tuple[tuple[str, int, int], ...]  # (question, 👎, 👍), most 👎 first

    @property
    def answered_share(self) -> float:
        return self.answered / self.asked if self.asked else 0.0


def build_report(asked: list[Asked], days: int) -> InsightsReport:
    answered = sum(a.outcome in ("answered", "summary") for a in asked)
    uncertain = sum(a.outcome == "uncertain" for a in asked)
    abstained = sum(a.outcome == "abstained" for a in asked)
    unanswered = group_questions([a.question for a in asked if a.outcome in ("abstained", "uncertain")])
    downvoted = sorted(
        ((a.question, a.downvotes, a.upvotes) for a in asked if a.downvotes),
        key=lambda row: (-row[1], row[2], row[0]),
    )
    return InsightsReport(
        days, len(asked), answered, uncertain, abstained, tuple(unanswered[:MAX_LISTED]), tuple(downvoted[:MAX_LISTED])
    )


def group_questions(questions: list[str]) -> list[tuple[str, int]]:
    """Group near-duplicate questions ("why did relations rupture" / "Why did the relations rupture?"),
    most frequent first; each group is shown in its most common wording."""
    groups: list[tuple[frozenset[str], list[str]]] = []
    for question in questions:
        key = frozenset(stems(words(question))) or frozenset({" ".join(question.casefold().split())})
        for stem_set, members in groups:
            if _overlap(key, stem_set) >= SAME_QUESTION:
                members.append(question)
                break
        else:
            groups.append((key, [question]))
    ranked = []
    for _, members in groups:
        # The wording asked most often (case and punctuation aside), as first written.
        counts = Counter(_plain(m) for m in members)
        top = max(counts.values())
        wording = next(" ".join(m.split()) for m in members if counts[_plain(m)] == top)
        ranked.append((wording, len(members)))
    ranked.sort(key=lambda row: (-row[1], row[0]))
    return ranked


def _plain(question: str) -> str:
    return " ".join("".join(ch for ch in question.casefold() if ch.isalnum() or ch.isspace()).split())


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0

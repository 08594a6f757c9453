"""Score the engine on a question set: hits, top-1, false abstentions, off-topic abstentions.

Question sets are JSONL files of our own, or SQuAD-format JSON files (each article becomes one
document: its title, a blank line, then its paragraphs separated by blank lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Protocol

from .answer import Answer, Evidence, Exchange


@dataclass(frozen=True)
class EvalQuestion:
    """A question and the phrases a right answer quotes; no phrases means off-topic.

    `after`, when given, makes it a follow-up: that question is asked first, and this one is asked
    as a reply to its answer.
    """

    question: str
    expect: tuple[str, ...] | None
    after: str | None = None

    @property
    def answerable(self) -> bool:
        return self.expect is not None


@dataclass(frozen=True)
class EvalOutcome:
    question: EvalQuestion
    answer: Answer
    # For a follow-up: the answer to it asked on its own, without the exchange before it.
    alone: Answer | None = None

    @property
    def alone_hit(self) -> bool:
        return self.alone is not None and EvalOutcome(self.question, self.alone).hit

    @property
    def hit(self) -> bool:
        """Some quoted sentence holds an expected phrase."""
        return self._hit_within(len(self.answer.citations))

    @property
    def top1(self) -> bool:
        return self._hit_within(1)

    def _hit_within(self, n: int) -> bool:
        if self.answer.abstained:
            return False
        expect = [normalise_for_match(p) for p in self.question.expect or ()]
        quoted = [normalise_for_match(c.text) for c in self.answer.citations[:n]]
        return any(phrase in text for phrase in expect for text in quoted)

    @property
    def quoted_chars(self) -> int:
        return sum(len(c.text) for c in self.answer.citations)

    @property
    def flagged(self) -> bool:
        """Abstained, or answered as the closest passage only."""
        return self.answer.abstained or self.answer.uncertain


_QUOTES = str.maketrans({"’": "'", "‘": "'", "‛": "'", "`": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})


def normalise_for_match(text: str) -> str:
    """Case-insensitive, with whitespace and quote marks made uniform, for matching gold answers."""
    return " ".join(text.casefold().translate(_QUOTES).split())


@dataclass(frozen=True)
class EvalReport:
    answerable: int
    off_topic: int
    hits: int
    top1: int
    false_abstentions: int
    off_topic_abstained: int
    mean_quote_chars: float = 0.0  # over the answerable questions answered
    answerable_uncertain: int = 0  # answerable questions answered as the closest passage only
    off_topic_uncertain: int = 0  # off-topic questions not abstained but answered as uncertain
    confident: int = 0  # answerable questions answered with confidence
    confident_top1: int = 0  # … whose first citation is right
    follow_ups: int = 0  # answerable questions asked as replies to an earlier answer
    follow_up_hits: int = 0
    follow_up_alone_hits: int = 0  # … hits when the same follow-ups are asked on their own

    @property
    def follow_up_hit_rate(self) -> float:
        return self.follow_up_hits / self.follow_ups if self.follow_ups else 0.0

    @property
    def follow_up_alone_hit_rate(self) -> float:
        return self.follow_up_alone_hits / self.follow_ups if self.follow_ups else 0.0

    @property
    def confident_precision(self) -> float:
        return self.confident_top1 / self.confident if self.confident else 1.0

    @property
    def off_topic_flagged_rate(self) -> float:
        """Off-topic questions abstained or marked uncertain."""
        if not self.off_topic:
            return 1.0
        return (self.off_topic_abstained + self.off_topic_uncertain) / self.off_topic

    @property
    def answerable_flagged_rate(self) -> float:
        """Answerable questions abstained or marked uncertain (the cost of flagging off-topic ones)."""
        if not self.answerable:
            return 0.0
        return (self.false_abstentions + self.answerable_uncertain) / self.answerable

    @property
    def hit_rate(self) -> float:
        return self.hits / self.answerable if self.answerable else 0.0

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.answerable if self.answerable else 0.0

    @property
    def off_topic_abstention_rate(self) -> float:
        return self.off_topic_abstained / self.off_topic if self.off_topic else 1.0

    def to_json(self) -> dict[str, float | int]:
        data: dict[str, float | int] = dict(asdict(self))
        data.update(
            hit_rate=round(self.hit_rate, 4),
            top1_rate=round(self.top1_rate, 4),
            off_topic_abstention_rate=round(self.off_topic_abstention_rate, 4),
            off_topic_flagged_rate=round(self.off_topic_flagged_rate, 4),
            answerable_flagged_rate=round(self.answerable_flagged_rate, 4),
            confident_precision=round(self.confident_precision, 4),
            mean_quote_chars=round(self.mean_quote_chars, 1),
            follow_up_hit_rate=round(self.follow_up_hit_rate, 4),
            follow_up_alone_hit_rate=round(self.follow_up_alone_hit_rate, 4),
        )
        return data


def read_questions(path: Path) -> list[EvalQuestion]:
    """Read a JSONL question set: {"question": str, "expect": [phrase, ...] | null, "after"?: str} per line."""
    questions = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            expect = row.get("expect")
            if isinstance(expect, str):
                expect = [expect]
            after = row.get("after")
            questions.append(
                EvalQuestion(
                    str(row["question"]),
                    tuple(expect) if expect is not None else None,
                    str(after) if after is not None else None,
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question row ({exc})") from exc
    return questions


@dataclass(frozen=True)
class SquadArticle:
    """One article of a SQuAD-format file, as the document text we index and its questions."""

    title: str
    text: str
    questions: tuple[EvalQuestion, ...]


def read_squad(path: Path) -> list[SquadArticle]:
    """Read a SQuAD 1.1/2.0 JSON file; unanswerable questions (`is_impossible`) have no phrases."""
    try:
        data = json.loads(path.read_text("utf-8"))
        articles = []
        for article in data["data"]:
            paragraphs = [str(p["context"]).strip() for p in article["paragraphs"]]
            questions = []
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    impossible = bool(qa.get("is_impossible", False)) or not qa.get("answers")
                    gold = None if impossible else tuple(dict.fromkeys(str(a["text"]) for a in qa["answers"]))
                    questions.append(EvalQuestion(str(qa["question"]), gold))
            title = str(article.get("title") or path.stem).replace("_", " ")
            articles.append(SquadArticle(title, title + "\n\n" + "\n\n".join(paragraphs) + "\n", tuple(questions)))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a SQuAD-format file ({exc})") from exc
    return articles


def is_squad_file(path: Path) -> bool:
    return path.suffix.lower() == ".json"


class Ask(Protocol):
    def __call__(self, question: str, *, context: Exchange | None = None) -> Answer: ...


def evaluate(questions: Iterable[EvalQuestion], ask: Ask) -> tuple[EvalReport, list[EvalOutcome]]:
    """Ask each question (a follow-up after the question it follows) and score the answers."""
    outcomes = []
    for q in questions:
        if q.after is None:
            outcomes.append(EvalOutcome(q, ask(q.question)))
            continue
        context = ask(q.after).exchange()
        outcomes.append(EvalOutcome(q, ask(q.question, context=context), alone=ask(q.question)))
    return score(outcomes), outcomes


def score(outcomes: list[EvalOutcome]) -> EvalReport:
    """The scores of a set of answered questions (hits, top-1, abstentions...)."""
    answerable = [o for o in outcomes if o.question.answerable]
    off_topic = [o for o in outcomes if not o.question.answerable]
    answered = [o for o in answerable if not o.answer.abstained]
    confident = [o for o in answered if not o.answer.uncertain]
    follow_ups = [o for o in answerable if o.question.after is not None]
    return EvalReport(
        answerable=len(answerable),
        off_topic=len(off_topic),
        hits=sum(o.hit for o in answerable),
        top1=sum(o.top1 for o in answerable),
        false_abstentions=sum(o.answer.abstained for o in answerable),
        off_topic_abstained=sum(o.answer.abstained for o in off_topic),
        mean_quote_chars=sum(o.quoted_chars for o in answered) / len(answered) if answered else 0.0,
        answerable_uncertain=sum(o.answer.uncertain for o in answerable if not o.answer.abstained),
        off_topic_uncertain=sum(o.answer.uncertain for o in off_topic if not o.answer.abstained),
        confident=len(confident),
        confident_top1=sum(o.top1 for o in confident),
        follow_ups=len(follow_ups),
        follow_up_hits=sum(o.hit for o in follow_ups),
        follow_up_alone_hits=sum(o.alone_hit for o in follow_ups),
    )


@dataclass(frozen=True)
class Calibration:
    """The answer-or-abstain rule that best separates a question set, and how cleanly it does."""

    coverage_weight: float
    min_confidence: float
    errors: int  # false abstentions plus answered off-topic questions, on the set itself
    margin: float  # distance from the threshold to the nearest question's confidence


COVERAGE_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))


def calibrate(outcomes: Iterable[EvalOutcome], weights: Iterable[float] = COVERAGE_WEIGHTS) -> Calibration:
    """Pick the coverage weight and threshold with fewest errors, then the widest margin.

    Only questions answered by retrieval count (metadata questions such as "who wrote this?" are
    answered from front matter and carry no evidence).
    """
    points = [(o.question.answerable, o.answer.evidence) for o in outcomes if o.answer.evidence is not None]
    if not any(a for a, _ in points) or all(a for a, _ in points):
        raise ValueError("Calibration needs both answerable and off-topic questions.")
    best: tuple[int, float, float, float] | None = None  # (errors, -margin, weight, threshold)
    for weight in weights:
        scored = sorted((e.best_dense + weight * e.coverage, answerable) for answerable, e in points)
        values = [v for v, _ in scored]
        cuts = [values[0] - 0.05] + [(a + b) / 2 for a, b in pairwise(values)] + [values[-1] + 0.05]
        for cut in cuts:
            errors = sum(1 for v, answerable in scored if (v < cut) == answerable)
            margin = min(abs(v - cut) for v in values) / (1.0 + weight)
            key = (errors, -margin, weight, cut)
            if best is None or key < best:
                best = key
    assert best is not None
    errors, neg_margin, weight, cut = best
    return Calibration(weight, round(cut, 3), errors, round(-neg_margin, 4))


@dataclass(frozen=True)
class SureBand:
    """The lowest sureness at which answers are right at least `precision` of the time."""

    sure_above: float
    precision: float  # top-1 right among the answerable questions above it, on the set itself
    share_sure: float  # of the answerable questions answered by retrieval


def calibrate_sure(
    outcomes: Iterable[EvalOutcome], sureness: Callable[[Evidence], float], *, precision: float = 0.95
) -> SureBand:
    """Pick `sure_above` so that answers above it quote the right sentence first `precision` of the time."""
    points = sorted(
        ((sureness(o.answer.evidence), o.top1) for o in outcomes if o.question.answerable and o.answer.evidence),
        reverse=True,
    )
    if not points:
        raise ValueError("Calibration needs answerable questions.")
    best = SureBand(round(points[0][0] + 0.01, 3), 1.0, 0.0)
    right = 0
    for count, (value, top1) in enumerate(points, start=1):
        right += top1
        nxt = points[count][0] if count < len(points) else value - 0.1
        if right / count >= precision and nxt < value:
            best = SureBand(round((value + nxt) / 2, 3), round(right / count, 4), round(count / len(points), 4))
    return best

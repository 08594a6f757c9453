"""Score the engine on a question set: hits, top-1, false abstentions, off-topic abstentions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

from .answer import Answer


@dataclass(frozen=True)
class EvalQuestion:
    """A question and the phrases a right answer quotes; no phrases means off-topic."""

    question: str
    expect: tuple[str, ...] | None

    @property
    def answerable(self) -> bool:
        return self.expect is not None


@dataclass(frozen=True)
class EvalOutcome:
    question: EvalQuestion
    answer: Answer

    @property
    def hit(self) -> bool:
        """Some quoted sentence holds an expected phrase."""
        return self._hit_within(len(self.answer.citations))

    @property
    def top1(self) -> bool:
        return self._hit_within(1)

    def _hit_within(self, n: int) -> bool:
        expect = self.question.expect or ()
        quoted = [c.text.casefold() for c in self.answer.citations[:n]]
        return any(phrase.casefold() in text for phrase in expect for text in quoted)


@dataclass(frozen=True)
class EvalReport:
    answerable: int
    off_topic: int
    hits: int
    top1: int
    false_abstentions: int
    off_topic_abstained: int

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
        )
        return data


def read_questions(path: Path) -> list[EvalQuestion]:
    """Read a JSONL question set: {"question": str, "expect": [phrase, ...] | null} per line."""
    questions = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            expect = row.get("expect")
            if isinstance(expect, str):
                expect = [expect]
            questions.append(EvalQuestion(str(row["question"]), tuple(expect) if expect is not None else None))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question row ({exc})") from exc
    return questions


def evaluate(questions: Iterable[EvalQuestion], ask: Callable[[str], Answer]) -> tuple[EvalReport, list[EvalOutcome]]:
    outcomes = [EvalOutcome(q, ask(q.question)) for q in questions]
    answerable = [o for o in outcomes if o.question.answerable]
    off_topic = [o for o in outcomes if not o.question.answerable]
    report = EvalReport(
        answerable=len(answerable),
        off_topic=len(off_topic),
        hits=sum(o.hit for o in answerable),
        top1=sum(o.top1 for o in answerable),
        false_abstentions=sum(o.answer.abstained for o in answerable),
        off_topic_abstained=sum(o.answer.abstained for o in off_topic),
    )
    return report, outcomes


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

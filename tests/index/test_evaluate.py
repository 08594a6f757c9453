"""Scoring rules: SQuAD files, answer matching, the sureness band."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citebot.index.answer import Answer, Citation, Evidence
from citebot.index.evaluate import (
    EvalOutcome,
    EvalQuestion,
    calibrate_sure,
    normalise_for_match,
    read_squad,
    score,
)

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Tide_mills",
            "paragraphs": [
                {
                    "context": "A tide mill is a water mill driven by tidal rise and fall.",
                    "qas": [
                        {
                            "question": "What drives a tide mill?",
                            "id": "1",
                            "is_impossible": False,
                            "answers": [{"text": "tidal rise and fall", "answer_start": 39}],
                        },
                        {
                            "question": "Who built the first tide mill?",
                            "id": "2",
                            "is_impossible": True,
                            "answers": [],
                            "plausible_answers": [{"text": "water", "answer_start": 16}],
                        },
                    ],
                },
                {"context": "Tide mills were common on European coasts.", "qas": []},
            ],
        }
    ],
}


def test_a_squad_file_becomes_one_document_per_article(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD))
    [article] = read_squad(path)
    assert article.title == "Tide mills"
    assert article.text == (
        "Tide mills\n\nA tide mill is a water mill driven by tidal rise and fall.\n\n"
        "Tide mills were common on European coasts.\n"
    )
    assert article.questions == (
        EvalQuestion("What drives a tide mill?", ("tidal rise and fall",)),
        EvalQuestion("Who built the first tide mill?", None),
    )


def test_a_file_that_is_not_squad_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text('{"questions": []}')
    with pytest.raises(ValueError, match="not a SQuAD-format file"):
        read_squad(path)


def test_matching_ignores_case_whitespace_and_quote_marks() -> None:
    assert normalise_for_match("The  “Quoted”\nWORD’s") == normalise_for_match('the "quoted" word\'s')


def _outcome(expect: tuple[str, ...] | None, quoted: str, *, score: float, uncertain: bool = False) -> EvalOutcome:
    citation = Citation(1, 1, "body", quoted, score)
    answer = Answer("q?", quoted, False, (citation,), None, 1.0, Evidence(0.5, 0.5, score, 0.0), uncertain=uncertain)
    return EvalOutcome(EvalQuestion("q?", expect), answer)


def test_summary_counts_quotes_uncertain_answers_and_flagged_off_topic_questions() -> None:
    outcomes = [
        _outcome(("mill",), "A tide mill.", score=3.0),
        _outcome(("coast",), "A tide mill.", score=1.0, uncertain=True),
        _outcome(None, "Anything.", score=1.0, uncertain=True),
        _outcome(None, "Anything.", score=3.0),
    ]
    report = score(outcomes)
    assert (report.hits, report.top1, report.confident, report.confident_top1) == (1, 1, 1, 1)
    assert report.answerable_uncertain == 1 and report.off_topic_uncertain == 1
    assert report.off_topic_flagged_rate == 0.5
    assert report.mean_quote_chars == len("A tide mill.")


def test_the_sure_band_is_the_lowest_threshold_that_keeps_the_precision() -> None:
    right = [_outcome(("x",), "x", score=s) for s in (5.0, 4.0, 3.0, 2.0)]
    wrong = [_outcome(("x",), "y", score=s) for s in (3.5, 1.0)]
    band = calibrate_sure(right + wrong, lambda e: e.score, precision=0.75)
    # Above 1.5: 4 right of 5 (80%); above 0.5 it would be 4 of 6.
    assert band.sure_above == pytest.approx(1.5)
    assert band.precision == pytest.approx(0.8) and band.share_sure == pytest.approx(5 / 6, abs=1e-4)

"""Answers on the real model: verbatim citations, abstention, and floors on the dev question set."""

from __future__ import annotations

import json

import pytest

from citebot.index.answer import AnswerPolicy, clean_question, metadata_part
from citebot.index.engine import Engine
from citebot.index.errors import QuestionRejected
from citebot.index.evaluate import calibrate, evaluate, read_questions

from ..conftest import ARTICLE_TEXT, DATA

DEV = DATA / "dev_questions.jsonl"


@pytest.fixture(scope="module")
def dev_run(real_engine: Engine):
    return evaluate(read_questions(DEV), real_engine.default.answer)


def test_the_example_question_quotes_paragraph_three(real_engine: Engine) -> None:
    answer = real_engine.default.answer("why did relations rupture?")
    assert not answer.abstained
    first = answer.citations[0]
    assert first.paragraph == 3 and first.part == "body"
    assert first.text.startswith("Diplomatic relations between the two nations ruptured in 2018")
    assert answer.source is not None and answer.source.author == "Matina Stevis-Gridneff"


def test_off_topic_question_abstains(real_engine: Engine) -> None:
    answer = real_engine.default.answer("What is the capital of Australia?")
    assert answer.abstained and answer.citations == ()
    assert "does not answer" in answer.answer


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("who wrote this?", "By Matina Stevis-Gridneff"),
        ("When was it published?", "Jan. 14, 2026, 12:00 a.m. ET"),
        ("what's the headline", "Mark Carney Heads to Beijing"),
    ],
)
def test_metadata_questions_quote_the_front_matter(real_engine: Engine, question: str, expected: str) -> None:
    answer = real_engine.default.answer(question)
    assert answer.citations[0].text.startswith(expected)


def test_metadata_intent_is_not_triggered_by_content_questions() -> None:
    assert metadata_part("who is the reporter traveling with?") is None
    assert metadata_part("when does carney arrive in beijing") is None
    assert metadata_part("Who wrote the article?") == "byline"


def test_every_citation_is_verbatim_and_one_to_three_sentences(dev_run) -> None:
    _, outcomes = dev_run
    for outcome in outcomes:
        answer = outcome.answer
        assert len(answer.citations) <= 3
        for citation in answer.citations:
            assert citation.text in ARTICLE_TEXT
            assert len(citation.text) < 600


def test_dev_set_floors(dev_run) -> None:
    report, outcomes = dev_run
    assert report.answerable >= 30 and report.off_topic >= 8
    # 0.975 with the hand-set weights, which were tuned on this set; the learned ranking (which never
    # saw it) quotes the right sentence for 37 of the 40 (docs/answer-quality.md).
    assert report.hit_rate >= 0.92, report
    assert report.false_abstentions == 0, [
        o.question.question for o in outcomes if o.question.answerable and o.answer.abstained
    ]
    near = {json.loads(line)["question"] for line in DEV.read_text().splitlines() if json.loads(line).get("near_topic")}
    generic = [o for o in outcomes if not o.question.answerable and o.question.question not in near]
    assert len(generic) >= 8
    assert all(o.answer.abstained for o in generic), [o.question.question for o in generic if not o.answer.abstained]
    assert report.off_topic_abstention_rate >= 0.85
    # The near-topic ones that are not abstained are shown as the closest passage, never as the answer.
    assert report.off_topic_flagged_rate == 1.0, [o.question.question for o in outcomes if not o.flagged]


def test_default_policy_is_what_calibration_finds_on_the_dev_set(dev_run) -> None:
    _, outcomes = dev_run
    calibration = calibrate(outcomes)
    defaults = AnswerPolicy()
    assert calibration.coverage_weight == pytest.approx(defaults.coverage_weight)
    assert calibration.min_confidence == pytest.approx(defaults.min_confidence, abs=0.02)


@pytest.mark.parametrize("question", ["", "   ", "???", "\u200b\u200b", "🙂🙂🙂"])
def test_questions_without_words_are_refused(question: str) -> None:
    with pytest.raises(QuestionRejected):
        clean_question(question)


def test_control_zero_width_and_lone_surrogate_characters_are_stripped() -> None:
    assert clean_question("why\u200b did\x00 relations\n rupture?") == "why did relations rupture?"
    # A lone UTF-16 surrogate (Discord passes one through) crashed the tokenizer.
    assert clean_question("why did \ud83d relations rupture?\udc00") == "why did relations rupture?"
    assert len(clean_question("why " * 2000)) == 1000


def test_a_question_with_a_lone_surrogate_is_answered(fake_engine: Engine) -> None:
    answer = fake_engine.default.answer("why did relations \ud800rupture?")
    assert answer.question == "why did relations rupture?" and not answer.abstained

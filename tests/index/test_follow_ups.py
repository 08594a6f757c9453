"""Summaries in the document's words, and follow-up questions read with the exchange before them."""

from __future__ import annotations

import pytest

from citebot.index.answer import Exchange
from citebot.index.engine import Engine
from citebot.index.evaluate import evaluate, read_questions
from citebot.index.summaries import asks_for_summary

from ..conftest import ARTICLE_TEXT, DATA


@pytest.mark.parametrize(
    "question",
    [
        "summarize",
        "Summarise the article",
        "summary of this document please",
        "tl;dr",
        "TLDR please",
        "what is this about?",
        "What is this article about?",
        "what's it about",
        "main points?",
        "give me a quick summary",
        "what are the key takeaways",
        "can you sum it up",
        "overview",
    ],
)
def test_summary_requests_are_recognised(question: str) -> None:
    assert asks_for_summary(question)


@pytest.mark.parametrize(
    "question",
    [
        "why did relations rupture?",
        "summarize the tariff negotiations",
        "summarize the tariffs",
        "what does it say about tariffs?",
        "what is the main point of contention over canola?",
        "who wrote this?",
    ],
)
def test_questions_about_the_content_are_not_summary_requests(question: str) -> None:
    assert not asks_for_summary(question)


def test_the_summary_quotes_standfirst_lede_and_central_sentences_in_order(real_engine: Engine) -> None:
    answer = real_engine.default.answer("what is this article about?")
    assert answer.summary and not answer.abstained and not answer.uncertain
    labels = [c.label for c in answer.citations]
    assert labels[0] == "standfirst" and labels[1] == "¶1"
    assert 3 <= len(answer.citations) <= 5
    assert all(c.text in ARTICLE_TEXT for c in answer.citations)
    positions = [ARTICLE_TEXT.index(c.text) for c in answer.citations]
    assert positions == sorted(positions)  # document order
    assert len({c.text for c in answer.citations}) == len(answer.citations)
    assert real_engine.default.summarise().citations == answer.citations


def test_citations_say_where_to_find_them_again(real_engine: Engine) -> None:
    answer = real_engine.default.answer("why did relations rupture?")
    first = answer.citations[0]
    assert first.key and first.paragraph_index >= 0 and first.ordinal == 0
    stored = real_engine.default.loaded().stored
    number = stored.document_number(first.key)
    assert number is not None
    paragraph = stored.documents[number].paragraphs[first.paragraph_index]
    assert paragraph.text.startswith(first.text)
    assert answer.exchange() == Exchange("why did relations rupture?", ((first.key, first.paragraph_index),))


def test_a_follow_up_is_read_with_the_question_before_it(real_engine: Engine) -> None:
    first = real_engine.default.answer("why did relations rupture?")
    follow = real_engine.default.answer("and the executive?", context=first.exchange())
    assert not follow.abstained
    assert any("two large houses in Vancouver" in c.text for c in follow.citations)
    who = real_engine.default.answer(
        "who said that?", context=real_engine.default.answer("are the tariffs being negotiated?").exchange()
    )
    assert "two officials briefed on the talks said" in who.citations[0].text


def test_a_short_question_without_context_still_abstains(real_engine: Engine) -> None:
    assert real_engine.default.answer("when?").abstained
    assert real_engine.default.answer("who said that?").abstained


def test_follow_up_set_floors(real_engine: Engine) -> None:
    report, _ = evaluate(read_questions(DATA / "follow_ups.jsonl"), real_engine.default.answer)
    assert report.follow_ups >= 15
    assert report.follow_up_hit_rate >= 0.85, report
    assert report.follow_up_alone_hit_rate < report.follow_up_hit_rate

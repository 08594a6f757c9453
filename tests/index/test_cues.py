"""Answer-type cues and the ranking's pure helpers."""

from __future__ import annotations

import pytest

from citebot.index.cues import AnswerKind, answer_kind, fit, question_words, sentence_cues
from citebot.index.retrieve import is_fragment


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When was the Duchy of Normandy founded?", AnswerKind.DATE),
        ("In what year did the storm hit?", AnswerKind.DATE),
        ("what century did the Normans arrive", AnswerKind.DATE),
        ("How many Canadians were detained?", AnswerKind.NUMBER),
        ("how much did the tariffs cost", AnswerKind.NUMBER),
        ("Who commissioned the Tapestry?", AnswerKind.NAME),
        ("To whom did Rollo swear fealty?", AnswerKind.NAME),
        ("why did relations rupture?", None),
        ("what does the with statement do?", None),
    ],
)
def test_answer_kind(question: str, kind: AnswerKind | None) -> None:
    assert answer_kind(question) is kind


def test_a_sentence_fits_the_kind_it_can_hold() -> None:
    dated = sentence_cues("In April 1191 Richard the Lion-hearted left Messina.")
    undated = sentence_cues("But a storm dispersed the fleet.")
    assert fit(AnswerKind.DATE, dated, frozenset()) == 1.0
    assert fit(AnswerKind.DATE, undated, frozenset()) == -1.0
    assert fit(None, undated, frozenset()) == 0.0
    assert fit(AnswerKind.NUMBER, sentence_cues("They detained two Canadian citizens."), frozenset()) == 1.0


def test_a_name_the_question_already_says_does_not_count() -> None:
    cues = sentence_cues("On 1 May 1191, the fleet arrived in the port of Limassol on Cyprus.")
    asked_about_cyprus = question_words("Who ruled Cyprus in 1191?")
    assert fit(AnswerKind.NAME, cues, asked_about_cyprus) == 1.0  # Limassol is a name the question lacks
    only_cyprus = sentence_cues("The fleet reached Cyprus.")
    assert fit(AnswerKind.NAME, only_cyprus, asked_about_cyprus) == -1.0
    # The capital that opens a sentence is not a name.
    assert fit(AnswerKind.NAME, sentence_cues("It was commissioned by the bishop."), frozenset()) == -1.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('The "raise" statement', True),
        ("return expression", True),
        ("Lambdas", True),
        ("It continues with the next cycle of the nearest enclosing loop.", False),
        ("No Bill of Attainder or ex post facto Law shall be passed.", False),
        ("Names listed in a global statement must not be used in the same code block textually", False),
        ("Examples:", False),
    ],
)
def test_fragments_are_headings_and_code_not_sentences(text: str, fragment: bool) -> None:
    assert is_fragment(text) is fragment

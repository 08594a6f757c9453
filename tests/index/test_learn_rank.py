"""The learned ranking: what it learns, that its figures are held out by article, and what is shipped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from citebot.index import learn_rank
from citebot.index.answer import AnswerPolicy
from citebot.index.engine import Engine
from citebot.index.evaluate import EvalQuestion, SquadArticle
from citebot.index.learn_rank import ArticleData, Asked, fit_weights, read_article, threshold_for
from citebot.index.ranking import FEATURES, SHIPPED, Ranker, shipped_ranker
from citebot.index.retrieve import Retriever

from ..conftest import engine_config
from ..fakes import HashingEmbedder

KIND = FEATURES.index("answer_kind")


def synthetic(questions: int, seed: int) -> list[Asked]:
    """Questions whose right candidate is the one with the highest answer-kind feature; the cosine is noise."""
    rng = np.random.default_rng(seed)
    asked = []
    for _ in range(questions):
        features = rng.normal(size=(12, len(FEATURES)))
        right = np.zeros(12, dtype=bool)
        right[int(np.argmax(features[:, KIND]))] = True
        asked.append(Asked(EvalQuestion("q?", ("a",)), "q?", np.arange(12), features, right, 1.0, ("q",)))
    return asked


def test_the_weights_learn_which_reading_marks_the_answer() -> None:
    weights = fit_weights(synthetic(200, seed=1))
    test = synthetic(200, seed=2)
    right_first = np.mean([a.right[int(np.argmax(a.features @ weights))] for a in test])
    assert right_first > 0.9
    assert weights[FEATURES.index("focus")] == pytest.approx(0.15)  # fixed: not in the examples


def test_the_threshold_is_the_lowest_that_keeps_the_precision() -> None:
    probabilities = np.array([0.95, 0.9, 0.8, 0.7, 0.6])
    right = np.array([True, True, True, False, True])
    assert threshold_for(probabilities, right, 1.0) == pytest.approx(0.8)
    assert threshold_for(probabilities, right, 0.8) == pytest.approx(0.6)
    assert threshold_for(probabilities, np.zeros(5, dtype=bool), 0.9) > 0.95  # never sure


def test_a_ranker_survives_its_file() -> None:
    ranker = Ranker(np.arange(len(FEATURES), dtype=float), 2.4, {"a": 1}, math.inf)
    again = Ranker.from_json(json.loads(json.dumps(ranker.to_json())))
    assert np.allclose(again.weights, ranker.weights)
    assert again.sure_above == 2.4 and again.closest_margin == math.inf and again.trained == {"a": 1}


ARTICLES = [
    (
        "Harbour",
        ["The council of Harbour Town voted to lease its disused docks in 1998.", "The mayor opposed the lease."],
        [("When did the council vote to lease the docks?", "1998"), ("Who opposed the lease?", "The mayor")],
    ),
    (
        "Bakery",
        ["A new bakery on Main Street sells rye bread.", "It opens at six every morning."],
        [("What does the bakery sell?", "rye bread"), ("When does it open?", "six")],
    ),
    (
        "Library",
        ["The town library now opens at nine.", "It closes at eight on weekdays and lends maps."],
        [("When does the library close?", "eight"), ("What does it lend?", "maps")],
    ),
]


def read(tmp_path: Path) -> list[ArticleData]:
    embedder = HashingEmbedder()
    out = []
    for title, paragraphs, questions in ARTICLES:
        article = SquadArticle(
            title,
            title + "\n\n" + "\n\n".join(paragraphs) + "\n",
            (*(EvalQuestion(q, (a,)) for q, a in questions), EvalQuestion("Who won the cup?", None)),
        )

        def engine_for(index_dir: Path, document: Path) -> Engine:
            return Engine(engine_config(index_dir, document), embedder=embedder)

        out.append(read_article(article, engine_for))
    return out


def test_each_article_is_scored_by_a_ranking_that_never_saw_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    articles = read(tmp_path)
    assert [len(a.asked) for a in articles] == [3, 3, 3]
    seen: list[tuple[str, ...]] = []
    real_fit = learn_rank.fit_weights

    def spying_fit(asked: list[Asked], **options: float) -> np.ndarray:
        seen.append(tuple(sorted({a.question.question for a in asked})))
        return real_fit(asked, **options)

    monkeypatch.setattr(learn_rank, "fit_weights", spying_fit)
    outcomes = learn_rank.held_out(articles, AnswerPolicy())
    assert list(outcomes) == ["Harbour", "Bakery", "Library"]
    assert all(len(o) == 3 for o in outcomes.values())
    # Each outer fit leaves the scored article out, each nested fit (for sureness) one more: of the
    # 9 fits, an article's questions reach only the 4 made while another article was held out.
    for _, _, questions in ARTICLES:
        own = {q for q, _ in questions}
        assert sum(1 for fit in seen if own & set(fit)) == 4
    assert all(o.answer.citations or o.answer.abstained for found in outcomes.values() for o in found)


def test_the_shipped_ranker_is_learned_complete_and_used_by_default(fake_engine: Engine) -> None:
    data = json.loads(SHIPPED.read_text("utf-8"))
    assert set(data["features"]) == set(FEATURES)
    ranker = shipped_ranker()
    assert ranker.sure_above is not None and ranker.closest_margin is not None
    assert ranker.trained["held_out"]["pooled"]["answerable"] > 1000  # its figures were measured held out
    policy = AnswerPolicy()
    assert policy.sure_above == ranker.sure_above and policy.closest_margin == ranker.closest_margin
    assert Retriever(fake_engine.default.loaded().stored).ranker is ranker

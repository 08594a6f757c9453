"""Learn the ranking from questions with known answers, and measure it held out by article.

Each article is indexed on its own and each of its questions is asked once: the candidates and what
the ranking reads of them (ranking.FEATURES) are kept, with which of them hold a gold answer. Then:

- the feature weights are fitted pairwise (a sentence that holds the answer against one that does
  not, of the same question) by logistic regression on standardised features;
- how far to move from the hand-set weights toward the learned ones, the sureness threshold
  (answers above it right first `precision` of the time) and how far below the first closest
  passage a second is still quoted are all set on rankings of articles the weights did not see;
- `held_out` leaves each article out in turn: all of the above is fitted on the other articles only
  (the choices nested one level further), and its questions are answered by the production
  `respond` with them. No figure of an article comes from a model that saw it.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .answer import Answer, AnswerPolicy, clean_question, evidence_of, respond
from .evaluate import EvalOutcome, EvalQuestion, SquadArticle, normalise_for_match
from .ranking import FEATURES, FIXED, HAND_WEIGHTS, Ranker
from .retrieve import Candidate, Retrieval
from .store import StoredIndex

_DENSE = FEATURES.index("dense")
_LEARNED = [i for i, name in enumerate(FEATURES) if name not in FIXED]
# Negatives per question in the pairwise fit: the ones the hand-set ranking puts highest, the
# sentences the learned ranking must tell apart from the answer.
HARD_NEGATIVES = 30
# Sure answers must be right first this often on rankings by weights that did not see them (the goal
# on new text is 0.95; a little above it leaves room for articles unlike the training ones).
TARGET_PRECISION = 0.955
# How far below the first closest passage a second may rank and still be quoted: the smallest of
# these whose hits stay within HIT_SLACK of quoting it always.
CLOSEST_MARGINS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, math.inf)
HIT_SLACK = 0.005
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)  # from the hand-set weights (0) to the learned ones (1)


@dataclass(frozen=True)
class Asked:
    """One question of an article with its candidates as the ranking read them."""

    question: EvalQuestion
    text: str  # the question as asked (cleaned)
    ids: np.ndarray  # candidate sentence ids
    features: np.ndarray  # (candidates, FEATURES)
    right: np.ndarray  # which candidates hold a gold answer
    coverage: float
    query_stems: tuple[str, ...]


@dataclass(frozen=True)
class ArticleData:
    title: str
    stored: StoredIndex
    asked: tuple[Asked, ...]


def read_article(
    article: SquadArticle, make_engine: Callable[[Path, Path], Any], *, progress: Callable[[str], None] | None = None
) -> ArticleData:
    """Index one article in a scratch folder and read every question's candidates once.

    `make_engine(index_dir, document_path)` returns an Engine for that article's library."""
    with tempfile.TemporaryDirectory(prefix="citebot-train-") as scratch:
        document = Path(scratch) / "article.txt"
        document.write_text(article.text, "utf-8")
        engine = make_engine(Path(scratch) / "index", document)
        try:
            live = engine.default.loaded()
            texts = [clean_question(q.question) for q in article.questions]
            vectors = engine.query_embedder.encode(texts)
            asked = []
            for question, text, vector in zip(article.questions, texts, vectors, strict=True):
                retrieval = live.retriever.retrieve(text, vector)
                asked.append(_asked(question, text, retrieval, live.stored))
        finally:
            engine.close()
    if progress is not None:
        progress(f"{article.title}: {len(asked)} questions")
    return ArticleData(article.title, live.stored, tuple(asked))


def _asked(question: EvalQuestion, text: str, retrieval: Retrieval, stored: StoredIndex) -> Asked:
    ids = np.array([c.sentence_id for c in retrieval.candidates], dtype=np.int64)
    rows = [c.features for c in retrieval.candidates if c.features is not None]
    features = np.array(rows, dtype=np.float64).reshape(len(ids), len(FEATURES))
    gold = [normalise_for_match(p) for p in question.expect or ()]
    right = np.array(
        [any(p in normalise_for_match(stored.sentences[int(i)].text) for p in gold) for i in ids], dtype=bool
    )
    return Asked(question, text, ids, features, right, retrieval.coverage, retrieval.query_stems)


def rank(asked: Asked, ranker: Ranker) -> Retrieval:
    """The question's retrieval as `ranker` orders its candidates."""
    scores = ranker.score(asked.features) if len(asked.ids) else np.zeros(0)
    candidates = [
        Candidate(int(i), float(row[_DENSE]), float(row[1]), float(score), row)
        for i, row, score in zip(asked.ids, asked.features, scores, strict=True)
    ]
    candidates.sort(key=lambda c: c.score, reverse=True)
    return Retrieval(tuple(candidates), asked.coverage, asked.query_stems)


# ---- fitting ------------------------------------------------------------------------------------
def fit_weights(asked: Sequence[Asked], *, strength: float = 1.0) -> np.ndarray:
    """Feature weights from pairs (a right candidate minus a wrong one of the same question), each
    question weighing the same; scaled so the cosine keeps weight 1, and FIXED features keep theirs."""
    from sklearn.linear_model import LogisticRegression

    hand = Ranker.by_hand()
    diffs: list[np.ndarray] = []
    sample: list[np.ndarray] = []
    for one in asked:
        if not one.right.any() or one.right.all():
            continue
        positives = one.features[one.right][:, _LEARNED]
        wrong = one.features[~one.right]
        hardest = np.argsort(-hand.score(wrong))[:HARD_NEGATIVES]
        negatives = wrong[hardest][:, _LEARNED]
        pairs = (positives[:, None, :] - negatives[None, :, :]).reshape(-1, len(_LEARNED))
        diffs.append(pairs)
        sample.append(np.full(len(pairs), 1.0 / len(pairs)))
    if not diffs:
        raise ValueError("No question has both a right and a wrong candidate to learn from.")
    x = np.vstack(diffs)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    w = np.concatenate(sample)
    model = LogisticRegression(C=strength, fit_intercept=False, max_iter=2000)
    model.fit(np.vstack([xs, -xs]), np.r_[np.ones(len(xs)), np.zeros(len(xs))], sample_weight=np.r_[w, w])
    learned = model.coef_[0] / scale
    weights = np.array([HAND_WEIGHTS.get(name, 0.0) for name in FEATURES], dtype=np.float64)
    dense = learned[_LEARNED.index(_DENSE)]
    weights[_LEARNED] = learned / dense if dense > 0 else learned
    return weights


def sure_threshold(rows: Sequence[tuple[float, bool]], precision: float = TARGET_PRECISION) -> float:
    """`sure_above` for the policy's sureness, from (sureness, the best sentence was right) of
    rankings by weights that did not see those questions."""
    values = np.array([value for value, _ in rows], dtype=np.float64)
    right = np.array([r for _, r in rows], dtype=bool)
    return threshold_for(values, right, precision)


def threshold_for(values: np.ndarray, right: np.ndarray, precision: float) -> float:
    """The lowest threshold above which answers are right first at least `precision` of the time
    (above every value when none is)."""
    order = np.argsort(-values)
    hits = np.cumsum(right[order])
    shown = np.arange(1, len(order) + 1)
    good = np.nonzero(hits / shown >= precision)[0]
    if not len(good):
        return float(values.max()) + 1.0 if len(values) else math.inf
    return float(values[order][good[-1]])


def train(
    articles: Sequence[ArticleData],
    policy: AnswerPolicy,
    *,
    precision: float = TARGET_PRECISION,
) -> Ranker:
    """Weights from every article; the blend, the sureness threshold and how far a second closest
    passage may rank from the first from rankings of each article by weights that left it out."""
    asked = [a for article in articles for a in article.asked if a.question.answerable]
    hand = Ranker.by_hand().weights
    learned = {article.title: fit_weights(_answerable(articles, but=article)) for article in articles}
    # How far to move from the hand-set weights toward the learned ones: as far as helps on
    # articles the learned weights did not see (a small pull back toward them keeps what holds on
    # other kinds of text).
    blend = max(BLENDS, key=lambda b: _right_first(articles, {t: (1 - b) * hand + b * w for t, w in learned.items()}))
    weights = (1 - blend) * hand + blend * fit_weights(asked)
    unseen = {t: Ranker((1 - blend) * hand + blend * w) for t, w in learned.items()}
    rows = []
    for article in articles:
        for one in article.asked:
            if one.question.answerable:
                ranked = rank(one, unseen[article.title])
                right = bool(ranked.candidates) and _is_right(one, ranked.candidates[0].sentence_id)
                rows.append((policy.sureness(evidence_of(ranked)), right))
    sure_above = sure_threshold(rows, precision)
    sure = dataclasses.replace(policy, sure_above=sure_above)
    hits = {}
    for candidate in CLOSEST_MARGINS:
        shaped = dataclasses.replace(sure, closest_margin=candidate)
        outcomes = [o for article in articles for o in answer_with(article, unseen[article.title], shaped)]
        hits[candidate] = sum(o.hit for o in outcomes if o.question.answerable) / max(1, len(asked))
    # The shortest quotes that lose (almost) no hit against always quoting the second passage.
    margin = min(m for m in CLOSEST_MARGINS if hits[m] >= hits[math.inf] - HIT_SLACK)
    trained = {
        "articles": [a.title for a in articles],
        "questions": len(asked),
        "precision_target": precision,
        "hit_slack": HIT_SLACK,
        "blend": blend,
    }
    return Ranker(weights, round(sure_above, 4), trained, margin)


def _right_first(articles: Sequence[ArticleData], weights: dict[str, np.ndarray]) -> float:
    """Share of answerable questions whose best candidate (by each article's weights) is right."""
    right = total = 0
    for article in articles:
        for one in article.asked:
            if one.question.answerable:
                total += 1
                if len(one.ids):
                    right += bool(one.right[int(np.argmax(one.features @ weights[article.title]))])
    return right / total if total else 0.0


def mean_quote(outcomes: Sequence[EvalOutcome]) -> float:
    """Mean characters quoted per answered answerable question (as `citebot eval` reports it)."""
    answered = [o for o in outcomes if o.question.answerable and not o.answer.abstained]
    return sum(o.quoted_chars for o in answered) / len(answered) if answered else 0.0


def _answerable(articles: Sequence[ArticleData], *, but: ArticleData) -> list[Asked]:
    return [a for article in articles if article is not but for a in article.asked if a.question.answerable]


def _is_right(asked: Asked, sentence_id: int) -> bool:
    where = np.nonzero(asked.ids == sentence_id)[0]
    return bool(len(where)) and bool(asked.right[where[0]])


# ---- answering with a ranker, and held-out figures ---------------------------------------------
def answer_with(article: ArticleData, ranker: Ranker, policy: AnswerPolicy) -> list[EvalOutcome]:
    """Each question of an article answered by the production `respond`, ranked by `ranker`."""
    if ranker.sure_above is not None:
        policy = dataclasses.replace(policy, sure_above=ranker.sure_above)
    if ranker.closest_margin is not None:
        policy = dataclasses.replace(policy, closest_margin=ranker.closest_margin)
    outcomes = []
    for one in article.asked:
        answer: Answer = respond(one.text, rank(one, ranker), article.stored, policy, None, False)
        outcomes.append(EvalOutcome(one.question, answer))
    return outcomes


def held_out(
    articles: Sequence[ArticleData],
    policy: AnswerPolicy,
    *,
    precision: float = TARGET_PRECISION,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[EvalOutcome]]:
    """Each article answered by a ranker trained without it (leave one article out)."""
    outcomes: dict[str, list[EvalOutcome]] = {}
    for article in articles:
        others = [a for a in articles if a is not article]
        ranker = train(others, policy, precision=precision)
        outcomes[article.title] = answer_with(article, ranker, policy)
        if progress is not None:
            progress(f"held out: {article.title}")
    return outcomes

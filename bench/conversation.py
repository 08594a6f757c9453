"""Conversation costs in one process: a question, the same as a follow-up, and a summary, beside the
bare encode + FAISS search of the question, on the packaged article and on a SQuAD article.

.venv/bin/python bench/conversation.py [--rounds 100] [--squad tests/data/squad2-dev-normans.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
from common import report, summary_ms

from citebot.bot.settings import PACKAGE_CORPUS
from citebot.index.engine import Engine, EngineConfig
from citebot.index.evaluate import read_questions, read_squad
from citebot.index.vectors import search


def measure(corpus: Path, pairs: list[tuple[str, str]], rounds: int, index_dir: Path) -> dict[str, dict[str, float]]:
    engine = Engine(EngineConfig(index_dir=index_dir, corpus_paths=(corpus,)))
    engine.default.loaded()
    stored = engine.default.loaded().stored
    encoder = engine.query_embedder
    contexts = {first: engine.default.answer(first).exchange() for first, _ in pairs}
    times: dict[str, list[float]] = {"bare": [], "question": [], "follow-up": [], "summary": []}
    for round_number in range(rounds + 5):
        first, follow = pairs[round_number % len(pairs)]
        started = time.perf_counter()
        search(stored.vectors, encoder.encode([follow]), 40)
        bare = time.perf_counter()
        engine.default.answer(follow)
        question = time.perf_counter()
        engine.default.answer(follow, context=contexts[first])
        follow_up = time.perf_counter()
        engine.default.summarise()
        summary = time.perf_counter()
        if round_number >= 5:  # the first rounds warm up
            times["bare"].append(bare - started)
            times["question"].append(question - bare)
            times["follow-up"].append(follow_up - question)
            times["summary"].append(summary - follow_up)
    engine.close()
    return {name: summary_ms(values) for name, values in times.items()} | {
        "sentences": {"count": len(stored.sentences)}
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--squad", type=Path, default=common.ROOT / "tests/data/squad2-dev-normans.json")
    args = parser.parse_args()
    follow_ups = read_questions(common.ROOT / "tests/data/follow_ups.jsonl")
    article_pairs = [(q.after or "", q.question) for q in follow_ups]
    rows = []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["article"] = measure(PACKAGE_CORPUS, article_pairs, args.rounds, Path(tmp) / "article")
        squad = read_squad(args.squad)[0]
        document = Path(tmp) / "squad.txt"
        document.write_text(squad.text, "utf-8")
        answerable = [q.question for q in squad.questions if q.expect]
        squad_pairs = [(a, "and why?") for a in answerable[:20]]
        results["squad"] = measure(document, squad_pairs, args.rounds, Path(tmp) / "squad")
    for name, result in results.items():
        bare = result["bare"]["p50_ms"]
        sentences = int(result["sentences"]["count"])
        for kind in ("question", "follow-up", "summary"):
            p50 = result[kind]["p50_ms"]
            rows.append((f"{name} ({sentences} sentences): {kind} p50 (ms)", p50, f"{p50 / bare:.2f}× bare {bare} ms"))
    report("conversation", rows, results)


if __name__ == "__main__":
    main()

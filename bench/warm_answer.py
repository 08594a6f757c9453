"""Warm answer latency in one process, beside the bare encode + FAISS search of the same questions.

.venv/bin/python bench/warm_answer.py [--questions 300] [--squad tests/data/squad2-dev-normans.json]

By default the packaged article and its dev questions; `--squad` takes the first article of a SQuAD
file and its questions instead (a longer document, so more candidates to rank per question).
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
from citebot.index.vectors import limit_search_threads, search

PREFIXES = ["", "hey, ", "quick question: ", "can you tell me ", "so ", "pls "]


def questions(count: int, base: list[str]) -> list[str]:
    out = []
    i = 0
    while len(out) < count:
        out.append(PREFIXES[(i // len(base)) % len(PREFIXES)] + base[i % len(base)])
        i += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--squad", type=Path, help="a SQuAD-format file: its first article and questions")
    parser.add_argument("--threads", type=int, default=0, help="ANSWER_THREADS (0: one per core)")
    args = parser.parse_args()
    limit_search_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.squad:
            article = read_squad(args.squad)[0]
            document = Path(tmp) / "article.txt"
            document.write_text(article.text, "utf-8")
            corpus, base = document, [q.question for q in article.questions]
        else:
            corpus = PACKAGE_CORPUS
            base = [q.question for q in read_questions(common.ROOT / "tests/data/dev_questions.jsonl")]
        engine = Engine(
            EngineConfig(index_dir=Path(tmp) / "index", corpus_paths=(corpus,), answer_threads=args.threads)
        )
        engine.default.loaded()
        encoder = engine.query_embedder
        stored = engine.default.loaded().stored
        asked = questions(args.questions, base)
        for q in asked[:20]:  # warm up both paths
            engine.default.answer(q)
            search(stored.vectors, encoder.encode([q]), 40)
        answer_times, bare_times = [], []
        for q in asked:  # interleaved so both see the same machine state
            t0 = time.perf_counter()
            engine.default.answer(q)
            t1 = time.perf_counter()
            search(stored.vectors, encoder.encode([q]), 40)
            t2 = time.perf_counter()
            answer_times.append(t1 - t0)
            bare_times.append(t2 - t1)
    answer, bare = summary_ms(answer_times), summary_ms(bare_times)
    ratio = answer["p50_ms"] / bare["p50_ms"]
    report(
        f"warm answer ({len(stored.sentences)} sentences)",
        [
            ("answer p50 (ms)", answer["p50_ms"], f"p95 {answer['p95_ms']}"),
            ("bare encode+search p50 (ms)", bare["p50_ms"], f"p95 {bare['p95_ms']}"),
            ("ratio p50", round(ratio, 3), "target <= 1.5"),
            ("ratio p95", round(answer["p95_ms"] / bare["p95_ms"], 3), ""),
            ("query encoder", type(encoder).__name__, ""),
            ("threads", args.threads or "one per core", ""),
        ],
        {"answer": answer, "bare": bare, "ratio_p50": ratio, "encoder": type(encoder).__name__},
    )


if __name__ == "__main__":
    main()
